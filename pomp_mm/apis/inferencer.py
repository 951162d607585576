# Copyright (c) pomp_mm contributors. All rights reserved.
"""Open-vocabulary inference with a POMP prompt, in the shape users know
from mmpretrain's ``ImageClassificationInferencer``, mmseg's
``MMSegInferencer`` and mmdet's ``DetInferencer`` (all on MMEngine's
``BaseInferencer``)::

    from pomp_mm.apis import PompInferencer
    inferencer = PompInferencer('cls', model_name='pomp-mini-vit',
                                clip_checkpoint='tiny_clip.pt',
                                prompt='prompt_latest.pth')
    results = inferencer('scenes/', texts=['red heart', 'blue star'],
                         out_dir='vis/')

``task`` is ``'cls'``, ``'seg'`` or ``'det'``. The model comes from a
config (``model='configs/...py'``, the test pipeline of its test set is
used, as ``tools/test.py`` uses it) or, for ``cls`` and ``seg``, from an
open_clip model name + CLIP file; ``det`` needs a config and the trained
detector's ``weights``. A ``prompt`` file goes in through
:func:`pomp_mm.core.load_prompt` (the one prompt route); ``texts`` is a
list, a one-name-per-line file or a built-in list (``coco``, ``lvis_v1``,
``imagenet``, ...) read by :func:`pomp_mm.core.read_vocabulary`. The text
features are computed once per vocabulary (the models cache them) and
reused across images and calls; new ``texts`` recompute them.

Each result (``results['predictions']``, one per image, JSON-ready):

* ``cls``: ``labels`` / ``scores`` (top-``topk`` names and softmax scores);
* ``seg``: ``label_map`` ((H, W) int array over the vocabulary;
  :data:`NO_CLASS` where the best class's softmax score is below
  ``min_score``), ``classes`` (the vocabulary) and ``present``;
* ``det``: ``bboxes`` (x1, y1, x2, y2 in input pixels), ``scores``,
  ``labels``, ``label_names`` (scores >= ``score_thr``).

``out_dir=`` writes a picture per image (``vis/<relative path>.png``) and
``predictions.json`` (for ``seg`` also the label maps as 16-bit PNGs under
``label_maps/``); every write is atomic.
"""
import copy
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

import pomp_mm  # noqa: F401  (weights-only loader, CPU repairs)
from pomp_mm.core.checkpoint import (atomic_write, atomic_write_text,
                                     checkpoint_file_problem,
                                     load_prompt_ctx)
from pomp_mm.core.prompt import PompPromptLearner, load_prompt
from pomp_mm.core.vocabulary import read_vocabulary, split_dotted
from .visualization import (draw_classification, draw_detection,
                            draw_segmentation, out_name)

TASKS = ('cls', 'seg', 'det')
#: Label of a ``seg`` pixel no class of the vocabulary wins.
NO_CLASS = 255
NO_CLASS_NAME = 'no class'
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
_LOADERS = ('LoadImageFromFile', 'LoadAnnotations', 'LoadImageFromNDArray',
            'mmpretrain.LoadImageFromFile', 'mmdet.LoadAnnotations',
            'mmseg.LoadAnnotations')


def builtin_vocabularies() -> Dict[str, str]:
    """Built-in vocabulary name -> file: detection's lists (``coco``,
    ``lvis_v1``, ``objects365v2``, ...) and classification's
    (``imagenet``, ``imagenet_a``, ``imagenet_r``)."""
    files = {}
    for task in ('cls', 'det'):
        folder = osp.join(osp.dirname(osp.dirname(__file__)), task,
                          'classnames')
        for name in sorted(os.listdir(folder)):
            if name.endswith('.txt'):
                files.setdefault(name[:-4], osp.join(folder, name))
    return files


def read_texts(texts: Union[str, Sequence[str]]) -> List[str]:
    """The vocabulary of ``texts``: a list of names, a names file, a
    built-in list or ``'a . b . c'`` (one name needs no dot)."""
    if isinstance(texts, str) and not osp.isfile(texts) and \
            texts not in builtin_vocabularies() and \
            not texts.endswith('.txt'):  # 'a . b . c' (det_demo's form)
        texts = split_dotted(texts)
        if not texts:
            raise ValueError("texts: no class name; expected e.g. "
                             "'headphone . webcam', a names file or a "
                             'built-in list')
    return read_vocabulary(texts, allow_duplicates=False,
                           builtins=builtin_vocabularies())


def list_images(inputs) -> List[tuple]:
    """``(input, root)`` pairs: a folder is listed recursively (sorted,
    image files only) with itself as root; a path or an array as is."""
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    out = []
    for item in inputs:
        if isinstance(item, str) and osp.isdir(item):
            found = sorted(
                osp.join(d, f) for d, _, files in os.walk(item) for f in files
                if f.lower().endswith(IMAGE_EXTS))
            if not found:
                raise ValueError(f'{item}: no image file in this folder')
            out += [(p, item) for p in found]
        elif isinstance(item, str):
            if not osp.isfile(item):
                raise FileNotFoundError(f'{item}: image file not found')
            out.append((item, None))
        elif isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
                raise ValueError(
                    f'image array of shape {item.shape} and dtype '
                    f'{item.dtype}: expected (H, W, 3) uint8, BGR')
            out.append((item, None))
        else:
            raise TypeError(f'image {type(item).__name__}: expected a path, '
                            'a folder or an (H, W, 3) uint8 BGR array')
    return out


def _walk(node, fn) -> None:
    """Call ``fn`` on every dict of a nested config."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def _learners(model) -> List[PompPromptLearner]:
    return [m for m in model.modules() if isinstance(m, PompPromptLearner)]


def _clip_cfg(model_name: str, clip_checkpoint: Optional[str]) -> dict:
    return dict(type='FrozenCLIP', model_name=model_name,
                checkpoint=clip_checkpoint)


def _learner_cfg(model_name: str, clip_checkpoint: Optional[str],
                 prompt: Optional[str]) -> dict:
    """A frozen prompt learner whose ``n_ctx`` fits ``prompt`` (which goes
    in afterwards through :func:`load_prompt`); without a prompt, the hand
    template "a photo of a {}."."""
    n_ctx = None
    if prompt is not None and not isinstance(prompt, dict):
        n_ctx = int(load_prompt_ctx(prompt).shape[-2])
    return dict(type='PompPromptLearner',
                clip=_clip_cfg(model_name, clip_checkpoint), n_ctx=n_ctx,
                ctx_init=None if n_ctx else 'a photo of a',
                prompt_checkpoint=None, freeze=True)


class _PompInferencerBase(BaseInferencer):
    """What the three task inferencers share (see the module docstring)."""

    task = ''
    scope = ''
    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    visualize_kwargs = {'out_dir'}
    postprocess_kwargs = {'return_datasample'}

    def __init__(self,
                 model: Union[str, Config, dict, None] = None,
                 clip_checkpoint: Optional[str] = None,
                 prompt: Optional[str] = None,
                 weights: Optional[str] = None,
                 model_name: Optional[str] = None,
                 texts: Union[str, Sequence[str], None] = None,
                 device: str = 'cpu',
                 show_progress: bool = False,
                 **task_args) -> None:
        for flag, path in (('clip_checkpoint', clip_checkpoint),
                           ('prompt', prompt), ('weights', weights)):
            if path is not None and not isinstance(path, dict):
                problem = checkpoint_file_problem(path) if osp.isfile(path) \
                    else f'{path}: file not found'
                if problem:
                    raise ValueError(f'{self.task} {flag}: {problem}')
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'config {model}: file not found')
        if model is None and not model_name:
            raise ValueError(f"PompInferencer('{self.task}'): give a config "
                             '(model=...) or model_name= and '
                             'clip_checkpoint=')
        self.prompt = prompt
        self.clip_checkpoint = clip_checkpoint
        self.weights = weights
        self.task_args = task_args
        self.register()
        init_default_scope(self.scope)
        if isinstance(model, str):
            cfg = Config.fromfile(model)
        elif isinstance(model, Config):
            cfg = copy.deepcopy(model)
        elif model is not None:
            cfg = Config(copy.deepcopy(dict(model)))
        else:
            cfg = Config(self.config_from_name(model_name, clip_checkpoint,
                                               prompt))
        self._override(cfg, model_name, clip_checkpoint, prompt)
        self._load_weights_file = weights
        super().__init__(cfg, None, device, self.scope, show_progress)
        self.names: Optional[List[str]] = None
        if texts is not None:
            self.set_texts(texts)

    # -- building ----------------------------------------------------------
    def register(self) -> None:
        """Import the task package (registers its models)."""
        raise NotImplementedError

    def config_from_name(self, model_name: str, clip_checkpoint, prompt
                         ) -> dict:
        raise ValueError(f"PompInferencer('{self.task}') needs a config "
                         '(model=configs/...py) and the detector weights')

    @staticmethod
    def _override(cfg: Config, model_name, clip_checkpoint, prompt) -> None:
        """The CLIP file (and model name) given replace the config's; a
        prompt given replaces every configured ``prompt_checkpoint`` (it is
        loaded by :func:`load_prompt` once the model is built, the way
        ``tools/test.py PROMPT`` does)."""
        def fix(node):
            if node.get('type') in ('FrozenCLIP', 'mmpretrain.FrozenCLIP'):
                if clip_checkpoint is not None:
                    node['checkpoint'] = clip_checkpoint
                if model_name:
                    node['model_name'] = model_name
            if prompt is not None and 'prompt_checkpoint' in node:
                node['prompt_checkpoint'] = None
        _walk(cfg.model, fix)

    def _init_model(self, cfg, weights, device) -> torch.nn.Module:
        from mmengine.registry import MODELS
        from mmengine.runner import load_checkpoint
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        if self.prompt is not None and self._load_weights_file is not None:
            # a checkpoint need not hold a frozen ctx: the prompt is there
            # while it loads, and goes in again (wins) after it
            load_prompt(model, self.prompt, log=False)
        if self._load_weights_file is not None:
            # MMEngine's loader, made weights-only by ``import pomp_mm``
            load_checkpoint(model, self._load_weights_file,
                            map_location='cpu', strict=True,
                            logger='current')
        elif self.task == 'det':
            raise ValueError('det: no detector weights (weights=DET.pth); '
                             'a detector without them predicts random boxes')
        learners = _learners(model)
        if not learners:
            raise ValueError(f'{self.task}: model {type(model).__name__} has '
                             'no PompPromptLearner; not a pomp_mm '
                             'open-vocabulary model')
        if self.prompt is not None:
            load_prompt(model, self.prompt)
        if any(lr.ctx_source == 'random' for lr in learners):
            raise ValueError(f'{self.task}: the prompt context is random '
                             '(no prompt file, no ctx_init); pass prompt=')
        clips = sorted({str(getattr(lr.clip, 'checkpoint', None))
                        for lr in learners})
        print_log(f'PompInferencer({self.task}): CLIP {", ".join(clips)}; '
                  f'prompt {self.prompt or learners[0].ctx_source}'
                  + (f'; weights {self._load_weights_file}'
                     if self._load_weights_file else ''), logger='current')
        model.to(device)
        model.eval()
        return model

    def _pipeline_cfg(self, cfg) -> list:
        for key in ('test_dataloader', 'val_dataloader'):
            loader = cfg.get(key)
            pipeline = loader and loader.get('dataset', {}).get('pipeline')
            if pipeline:
                return list(pipeline)
        return list(cfg.get('test_pipeline') or [])

    def _init_pipeline(self, cfg) -> callable:
        steps = [copy.deepcopy(s) for s in self._pipeline_cfg(cfg)
                 if s.get('type') not in _LOADERS]
        steps = self.adapt_pipeline(steps)
        return Compose(steps)

    def adapt_pipeline(self, steps: list) -> list:
        return steps

    def _init_collate(self, cfg):
        from mmengine.dataset import pseudo_collate
        return pseudo_collate  # mmseg's and mmdet's (a list per batch)

    def _init_visualizer(self, cfg):
        return None  # pomp_mm.apis.visualization draws (any vocabulary)

    # -- vocabulary --------------------------------------------------------
    def set_texts(self, texts) -> List[str]:
        """Use ``texts`` as the vocabulary (no work when it is the one in
        use; the models encode a new one once, on the next image)."""
        names = read_texts(texts)
        if names != self.names:
            self.model.set_vocabulary(names, 'test')
            print_log(f'PompInferencer({self.task}): vocabulary of '
                      f'{len(names)} class(es)', logger='current')
            self.names = names
        return names

    # -- the call ----------------------------------------------------------
    def __call__(self, inputs, texts=None, batch_size: int = 1,
                 out_dir: Optional[str] = None,
                 return_datasamples: bool = False) -> dict:
        """Predict ``inputs`` (paths, folders, BGR arrays or a list of
        them) over ``texts`` (or the vocabulary in use)."""
        if texts is not None:
            self.set_texts(texts)
        if self.names is None:
            raise ValueError(f'PompInferencer({self.task}): no vocabulary; '
                             'call it with texts=[...], a names file or a '
                             'built-in list')
        pairs = list_images(inputs)
        images = [p for p, _ in pairs]
        # files given one by one keep their paths below their common folder
        # (two class folders' img.png are two pictures)
        loose = [osp.dirname(osp.abspath(p)) for p, r in pairs
                 if isinstance(p, str) and r is None]
        common = osp.commonpath(loose) if loose else None
        roots = [r if r is not None or not isinstance(p, str) else common
                 for p, r in pairs]
        preds = []
        for data in self.preprocess(images, batch_size=batch_size):
            preds.extend(self.forward(data))
        drawn = self.visualize(images, preds, out_dir=out_dir, roots=roots)
        return self.postprocess(preds, drawn, return_datasamples,
                                out_dir=out_dir, roots=roots)

    def _inputs_to_list(self, inputs) -> list:
        return list(inputs)

    def _load(self, item) -> dict:
        if isinstance(item, str):
            img = mmcv.imread(item, channel_order='bgr')
            if img is None:
                raise ValueError(f'{item}: not a readable image')
        else:
            img = item
        return dict(img=img, img_shape=img.shape[:2],
                    ori_shape=img.shape[:2],
                    img_path=item if isinstance(item, str) else None)

    def preprocess(self, inputs, batch_size: int = 1, **kwargs):
        data = (self.pipeline(self._load(i)) for i in inputs)
        yield from map(self.collate_fn, self._get_chunk_data(data,
                                                             batch_size))

    # -- outputs -----------------------------------------------------------
    def to_dict(self, sample, **kwargs) -> dict:
        raise NotImplementedError

    def draw(self, image: np.ndarray, pred: dict) -> np.ndarray:
        raise NotImplementedError

    def visualize(self, inputs, preds, out_dir=None, roots=None, **kwargs):
        if not out_dir:
            return None
        drawn = []
        for i, (item, sample) in enumerate(zip(inputs, preds)):
            image = self._load(item)['img']
            picture = self.draw(image, self.to_dict(sample))
            name = out_name(item and osp.abspath(item) if isinstance(
                item, str) else item, (roots or [None] * len(inputs))[i], i)
            path = osp.join(out_dir, 'vis', name + '.png')
            ok, buf = cv2.imencode('.png', picture)
            if not ok:
                raise RuntimeError(f'could not encode {path}')
            os.makedirs(osp.dirname(path), exist_ok=True)
            atomic_write(path, lambda f, b=buf: f.write(b.tobytes()))
            drawn.append(path)
        return drawn

    def postprocess(self, preds, visualization, return_datasample=False,
                    out_dir=None, roots=None, **kwargs) -> dict:
        results = [self.to_dict(p) for p in preds]
        if out_dir:
            self.write_json(results, preds, out_dir, roots)
        return dict(predictions=preds if return_datasample else results,
                    visualization=visualization)

    def write_json(self, results, preds, out_dir, roots) -> None:
        records = []
        for i, (res, sample) in enumerate(zip(results, preds)):
            record = dict(res, image=sample.metainfo.get('img_path') or
                          f'image_{i:05d}')
            records.append(record)
        os.makedirs(out_dir, exist_ok=True)
        atomic_write_text(osp.join(out_dir, 'predictions.json'), json.dumps(
            dict(task=self.task, classes=self.names, clip=self.clip_file,
                 prompt=self.prompt, weights=self.weights,
                 predictions=records), indent=1) + '\n')

    @property
    def clip_file(self) -> Optional[str]:
        learners = _learners(self.model)
        return getattr(learners[0].clip, 'checkpoint', None) \
            if learners else None


class PompClsInferencer(_PompInferencerBase):
    """``PompInferencer('cls', ...)``: top-``topk`` classes per image."""

    task, scope = 'cls', 'mmpretrain'

    def register(self) -> None:
        import pomp_mm.cls  # noqa: F401

    def config_from_name(self, model_name, clip_checkpoint, prompt):
        return dict(model=dict(
            type='PromptCLIPClassifier',
            prompt_learner=_learner_cfg(model_name, clip_checkpoint, prompt)),
            test_pipeline=[dict(type='PackInputs')])

    def _init_collate(self, cfg):
        from mmengine.dataset import default_collate
        return default_collate  # mmpretrain's configs stack the batch

    def adapt_pipeline(self, steps):
        """A pipeline that does not size images gets CLIP's own transform
        (shorter side to CLIP's input size, bicubic, then a centre crop)."""
        sizing = ('Resize', 'ResizeEdge', 'RandomResizedCrop', 'CenterCrop')
        if any(str(s.get('type')).split('.')[-1] in sizing for s in steps):
            return steps
        size = int(self.model.clip.image_size[0])
        return [dict(type='ResizeEdge', scale=size, edge='short',
                     backend='pillow', interpolation='bicubic'),
                dict(type='CenterCrop', crop_size=size)] + \
            (steps or [dict(type='PackInputs')])

    def to_dict(self, sample, topk: Optional[int] = None) -> dict:
        k = min(int(self.task_args.get('topk', 5)), len(self.names))
        scores, idx = sample.pred_score.float().topk(k)
        return dict(labels=[self.names[i] for i in idx.tolist()],
                    scores=[round(float(s), 6) for s in scores],
                    pred_label=int(sample.pred_label))

    def draw(self, image, pred):
        return draw_classification(image, pred['labels'], pred['scores'])


class PompSegInferencer(_PompInferencerBase):
    """``PompInferencer('seg', ..., min_score=0.0)``: an (H, W) label map;
    pixels whose best class has a softmax score below ``min_score`` are
    :data:`NO_CLASS` (``'no class'``)."""

    task, scope = 'seg', 'mmseg'

    def register(self) -> None:
        import pomp_mm.seg  # noqa: F401

    def config_from_name(self, model_name, clip_checkpoint, prompt):
        size = self.task_args.get('crop_size')
        model = dict(
            type='PompMaskCLIP',
            text_encoder=dict(type='PompTextEncoder', cat_bg=False,
                              prompt_learner=_learner_cfg(
                                  model_name, clip_checkpoint, prompt)),
            dense_mode=self.task_args.get('dense_mode', 'value'))
        if size:
            model['test_cfg'] = dict(mode='slide', crop_size=(size, size),
                                     stride=(size // 2, size // 2))
        return dict(model=model, test_pipeline=[dict(type='PackSegInputs')])

    def _init_model(self, cfg, weights, device):
        model = super()._init_model(cfg, weights, device)
        if self.task_args.get('crop_size') is None and \
                model.test_cfg.get('mode', 'whole') == 'whole':
            size = tuple(int(s) for s in model.clip.image_size)
            model.test_cfg = ConfigDict(mode='slide', crop_size=size,
                                        stride=(size[0] // 2, size[1] // 2))
        return model

    def to_dict(self, sample) -> dict:
        logits = sample.seg_logits.data.float()
        prob, label = logits.softmax(0).max(0)
        label = label.numpy().astype(np.int64)
        label[prob.numpy() < float(self.task_args.get('min_score', 0.0))] = \
            NO_CLASS
        ids, counts = np.unique(label, return_counts=True)
        present = {(NO_CLASS_NAME if i == NO_CLASS else self.names[i]):
                   int(c) for i, c in zip(ids.tolist(), counts.tolist())}
        return dict(label_map=label, classes=list(self.names),
                    present=present)

    def draw(self, image, pred):
        return draw_segmentation(image, pred['label_map'], self.names,
                                 ignore_index=NO_CLASS)

    def write_json(self, results, preds, out_dir, roots) -> None:
        slim = []
        for i, (res, sample) in enumerate(zip(results, preds)):
            img_path = sample.metainfo.get('img_path')
            name = out_name(img_path and osp.abspath(img_path),
                            (roots or [None] * len(preds))[i], i)
            path = osp.join(out_dir, 'label_maps', name + '.png')
            ok, buf = cv2.imencode('.png', res['label_map'].astype(np.uint16))
            os.makedirs(osp.dirname(path), exist_ok=True)
            atomic_write(path, lambda f, b=buf: f.write(b.tobytes()))
            slim.append(dict(label_map=osp.relpath(path, out_dir),
                             present=res['present']))
        super().write_json(slim, preds, out_dir, roots)


class PompDetInferencer(_PompInferencerBase):
    """``PompInferencer('det', model=CONFIG, weights=DET.pth, ...,
    score_thr=0.3)``: boxes, scores and label names."""

    task, scope = 'det', 'mmdet'

    def register(self) -> None:
        import pomp_mm.det  # noqa: F401

    def to_dict(self, sample) -> dict:
        pred = sample.pred_instances
        keep = pred.scores >= float(self.task_args.get('score_thr', 0.3))
        labels = pred.labels[keep].tolist()
        return dict(bboxes=[[round(float(v), 2) for v in b]
                            for b in pred.bboxes[keep].tolist()],
                    scores=[round(float(s), 6) for s in pred.scores[keep]],
                    labels=labels,
                    label_names=[self.names[i] for i in labels])

    def draw(self, image, pred):
        return draw_detection(image, np.asarray(pred['bboxes'],
                                                np.float64).reshape(-1, 4),
                              pred['labels'], pred['scores'], self.names)


_CLASSES = dict(cls=PompClsInferencer, seg=PompSegInferencer,
                det=PompDetInferencer)


def PompInferencer(task: str, *args, **kwargs) -> _PompInferencerBase:
    """One entry point: ``PompInferencer('cls' | 'seg' | 'det', model=None,
    clip_checkpoint=None, prompt=None, weights=None, model_name=None,
    texts=None, device='cpu', **task_args)``; ``task_args``: ``topk``
    (cls, 5), ``min_score`` / ``dense_mode`` / ``crop_size`` (seg),
    ``score_thr`` (det, 0.3). See the module docstring."""
    if task not in _CLASSES:
        raise ValueError(f'task {task!r}: expected one of {TASKS}')
    return _CLASSES[task](*args, **kwargs)
