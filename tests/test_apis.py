"""pomp_mm.apis.PompInferencer: the same predictions as tools/test.py on the
same mini-world scenes (cls, seg, det), its inputs and vocabularies, and
pictures whose colours and file names are right."""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load as mmengine_load

from pomp_mm.apis import NO_CLASS, PompInferencer, list_images, read_texts
from pomp_mm.apis.visualization import (draw_detection, draw_segmentation,
                                        out_name, palette, upscale)
from pomp_mm.engine import test as engine_test

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow


def _classes(scenes):
    return json.load(open(osp.join(scenes, 'classes.json')))['classes']


def _test_images(scenes):
    return osp.join(scenes, 'images', 'test')  # the export's layout


def _dump(cfg: Config, tmp_path, name, checkpoint):
    """tools/test.py's predictions (mmengine's DumpResults) and its
    pictures (``--show-dir tmp_path/show_<name>``)."""
    out = str(tmp_path / f'{name}.pkl')
    cfg.test_evaluator = dict(type='DumpResults', out_file_path=out)
    cfg.work_dir = str(tmp_path / f'work_{name}')
    cfg.log_level = 'WARNING'
    path = str(tmp_path / f'{name}_cfg.py')
    cfg.dump(path)
    engine_test.main([path] + ([checkpoint] if checkpoint else []) +
                     ['--show-dir', str(tmp_path / f'show_{name}')])
    return path, mmengine_load(out)


# -- the same predictions as tools/test.py ----------------------------------
def test_cls_same_as_tools_test(scenes, clip_weights, prompt, tmp_path):
    folder = tmp_path / 'classes'
    images = sorted(os.listdir(_test_images(scenes)))
    for i, name in enumerate(images):  # two class folders, same file names
        sub = folder / ('red_heart' if i % 2 else 'blue_star')
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(osp.join(_test_images(scenes), name), sub / 'scene.png'
                    if i < 2 else sub / name)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld/zeroshot.py'))
    cfg.model.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-test-vit',
        checkpoint=clip_weights)
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='ResizeEdge', scale=32, edge='short',
                     backend='pillow', interpolation='bicubic'),
                dict(type='CenterCrop', crop_size=32),
                dict(type='PackInputs')]
    cfg.test_dataloader = dict(
        batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'),
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='ClassFolderDataset', data_root=str(folder),
                     pipeline=pipeline))
    path, dumped = _dump(cfg, tmp_path, 'cls', prompt)
    inferencer = PompInferencer('cls', model=path, prompt=prompt, topk=2)
    # the dataset's file order: sorted class folders, sorted files
    files = sorted(str(p) for p in folder.rglob('*.png'))
    out = inferencer(files, texts=['blue star', 'red heart'],
                     out_dir=str(tmp_path / 'vis'))
    assert len(dumped) == len(files) == len(out['predictions'])
    for sample, pred in zip(dumped, out['predictions']):
        score = sample['pred_score'].float()
        top = score.argsort(descending=True)[:2].tolist()
        assert pred['labels'] == [['blue star', 'red heart'][i] for i in top]
        np.testing.assert_allclose(pred['scores'], score[top].numpy(),
                                   rtol=1e-5, atol=1e-6)
    # two class folders' scene.png: two pictures, paths kept
    for sub in ('blue_star', 'red_heart'):
        assert cv2.imread(str(tmp_path / 'vis' / 'vis' / sub /
                              'scene.png')) is not None
        # tools/test.py --show-dir draws the same picture, same name
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / 'show_cls' / sub / 'scene.png')),
            cv2.imread(str(tmp_path / 'vis' / 'vis' / sub / 'scene.png')))
    record = json.load(open(tmp_path / 'vis' / 'predictions.json'))
    assert record['prompt'] == prompt and record['clip'] == clip_weights
    assert [p['image'] for p in record['predictions']] == files


def _seg_cfg(scenes, clip_weights):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld/seg_maskclip.py'))
    cfg.model.text_encoder.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-test-vit',
        checkpoint=clip_weights)
    cfg.model.test_cfg = dict(mode='slide', crop_size=(32, 32),
                              stride=(16, 16))
    cfg.test_dataloader.dataset.data_root = scenes
    cfg.test_dataloader.batch_size = 2
    return cfg


def test_seg_same_as_tools_test(scenes, clip_weights, prompt, tmp_path):
    path, dumped = _dump(_seg_cfg(scenes, clip_weights), tmp_path, 'seg',
                         prompt)
    inferencer = PompInferencer('seg', model=path, prompt=prompt)
    files = sorted(s['img_path'] for s in dumped)
    assert [s['img_path'] for s in dumped] == files
    out = inferencer(files, texts=_classes(scenes),
                     out_dir=str(tmp_path / 'vis'))
    for f in files:  # --show-dir: the inferencer's picture, same name
        name = osp.basename(f)
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / 'show_seg' / 'images' / 'test' / name)),
            cv2.imread(str(tmp_path / 'vis' / 'vis' / name)))
    for sample, pred in zip(dumped, out['predictions']):
        want = sample['pred_sem_seg']['data'][0].numpy()
        assert pred['label_map'].shape == want.shape
        np.testing.assert_array_equal(pred['label_map'], want)
    # a 'no class' threshold above every pixel's best score: all no class
    logits = dumped[0]['seg_logits']['data'].float()
    best = logits.softmax(0).max(0).values
    strict = PompInferencer('seg', model=path, prompt=prompt,
                            min_score=float(best.max()) + 1e-3)
    label = strict(files[0], texts=_classes(scenes))['predictions'][0]
    assert (label['label_map'] == NO_CLASS).all()
    assert label['present'] == {'no class': best.numel()}
    # halfway: exactly the pixels below the threshold
    thr = float(best.median())
    half = PompInferencer('seg', model=path, prompt=prompt, min_score=thr)
    got = half(files[0], texts=_classes(scenes))['predictions'][0]
    # (pixels within float noise of the threshold may go either way: the
    # test ran 2 images a batch, this 1)
    clear = ((best - thr).abs() > 1e-4).numpy()
    assert clear.mean() > 0.9
    np.testing.assert_array_equal((got['label_map'] == NO_CLASS)[clear],
                                  (best < thr).numpy()[clear])


def test_det_same_as_tools_test(scenes, clip_weights, prompt, tmp_path):
    from mmengine.registry import MODELS, init_default_scope

    import pomp_mm.det  # noqa: F401
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld/det_ov.py'))
    head = cfg.model.roi_head.bbox_head
    head.num_classes = 50
    learner = head.cls_predictor_cfg.prompt_learner
    learner.clip = dict(type='FrozenCLIP', model_name='pomp-test-vit',
                        checkpoint=clip_weights, text_only=True)
    learner.prompt_checkpoint = prompt  # tools/test.py's prompt
    learner.ctx_init = None
    cfg.test_dataloader.dataset.data_root = scenes
    cfg.test_dataloader.batch_size = 2
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    init_default_scope('mmdet')
    torch.manual_seed(0)
    weights = str(tmp_path / 'det.pth')
    # an MMEngine checkpoint's layout (message_hub: not a prompt file)
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(),
                'meta': {}, 'message_hub': {}}, weights)
    path, dumped = _dump(cfg, tmp_path, 'det', weights)
    inferencer = PompInferencer('det', model=path, weights=weights,
                                prompt=prompt, score_thr=0.0)
    files = [s['img_path'] for s in dumped]
    out = inferencer(files, texts=_classes(scenes), out_dir=str(tmp_path))
    for sample, pred in zip(dumped, out['predictions']):
        want = sample['pred_instances']
        assert len(pred['scores']) == len(want['scores']) > 0
        np.testing.assert_allclose(pred['bboxes'], want['bboxes'].numpy(),
                                   atol=0.01)
        np.testing.assert_allclose(pred['scores'], want['scores'].numpy(),
                                   rtol=1e-4, atol=1e-6)
        assert pred['labels'] == want['labels'].tolist()
        assert pred['label_names'] == [_classes(scenes)[i]
                                       for i in pred['labels']]
    assert json.load(open(tmp_path / 'predictions.json'))['weights'] == \
        weights
    for f in files:  # --show-dir: 64 px scenes drawn at 384 px
        shown = cv2.imread(str(tmp_path / 'show_det' / 'images' / 'test' /
                               osp.basename(f)))
        assert shown is not None and shown.shape == (384, 384, 3)
    with pytest.raises(ValueError, match='det: no detector weights'):
        PompInferencer('det', model=path, prompt=prompt)


# -- vocabulary: once per vocabulary, recomputed when it changes -------------
def test_text_features_once_per_vocabulary(clip_weights, prompt,
                                           monkeypatch, tmp_path):
    from pomp_mm.core.prompt import PompPromptLearner
    calls = []
    encode = PompPromptLearner.encode_vocabulary

    def counted(self, *a, **k):
        calls.append(list(self.class_names))
        return encode(self, *a, **k)

    monkeypatch.setattr(PompPromptLearner, 'encode_vocabulary', counted)
    inferencer = PompInferencer('cls', model_name='pomp-test-vit',
                                clip_checkpoint=clip_weights, prompt=prompt)
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 255, (40, 48, 3), np.uint8) for _ in range(3)]
    a = inferencer(images, texts=['cat', 'dog'])
    inferencer(images[:1], texts=['cat', 'dog'])
    assert calls == [['cat', 'dog']]
    names = tmp_path / 'names.txt'
    names.write_text('cat\nbird\ndog\n')
    b = inferencer(images, texts=str(names))
    assert calls == [['cat', 'dog'], ['cat', 'bird', 'dog']]
    # the same images, a third class: the two old classes keep their odds
    for pa, pb in zip(a['predictions'], b['predictions']):
        sa = dict(zip(pa['labels'], pa['scores']))
        sb = dict(zip(pb['labels'], pb['scores']))
        assert sa['cat'] / sa['dog'] == pytest.approx(sb['cat'] / sb['dog'],
                                                      rel=1e-4)
    # an independent computation: CLIP's own image tower and the prompt
    # learner's text features, on the resized, cropped image
    model = inferencer.model
    text = model.prompt_learner.encode_vocabulary(normalize=True)
    img = cv2.cvtColor(images[0], cv2.COLOR_BGR2RGB)
    from PIL import Image
    img = np.asarray(Image.fromarray(img).resize((38, 32), Image.BICUBIC))
    img = img[:, 3:35]
    x = (torch.from_numpy(img.copy()).permute(2, 0, 1).float()[None] -
         torch.tensor(model.CLIP_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(model.CLIP_STD).view(1, 3, 1, 1)
    feat = model.clip.encode_image(x, normalize=True).float()
    probs = (model.clip.logit_scale * feat @ text.t()).softmax(-1)[0]
    got = dict(zip(b['predictions'][0]['labels'],
                   b['predictions'][0]['scores']))
    np.testing.assert_allclose([got[n] for n in ('cat', 'bird', 'dog')],
                               probs.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_inputs_and_texts(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b' / 'c').mkdir(parents=True)
    img = np.zeros((8, 8, 3), np.uint8)
    for p in ('a/x.png', 'b/c/x.png', 'b/y.jpg'):
        cv2.imwrite(str(tmp_path / p), img)
    (tmp_path / 'b' / 'notes.txt').write_text('no image')
    listed = list_images([str(tmp_path), img])
    assert [p if isinstance(p, str) else 'array' for p, _ in listed] == [
        str(tmp_path / 'a/x.png'), str(tmp_path / 'b/c/x.png'),
        str(tmp_path / 'b/y.jpg'), 'array']
    assert [out_name(p, r, i) for i, (p, r) in enumerate(listed)] == [
        'a/x', 'b/c/x', 'b/y', 'image_00003']
    (tmp_path / 'empty').mkdir()
    for bad, err, msg in (
            (str(tmp_path / 'nope.png'), FileNotFoundError,
             'nope.png: image file not found'),
            (str(tmp_path / 'empty'), ValueError, 'no image file'),
            (np.zeros((4, 4), np.uint8), ValueError, r'\(4, 4\)'),
            (3, TypeError, 'image int')):
        with pytest.raises(err, match=msg):
            list_images(bad)
    assert read_texts('red heart . blue star') == ['red heart', 'blue star']
    assert len(read_texts('coco')) == 80
    assert len(read_texts('imagenet')) == 1000
    with pytest.raises(ValueError):
        read_texts(['cat', 'cat'])
    with pytest.raises(ValueError, match="task 'x': expected one of"):
        PompInferencer('x')


# -- pictures ----------------------------------------------------------------
def test_palette_any_size_and_distinct():
    for n in (1, 80, 200, 500):
        colours = palette(n)
        assert len(colours) == n and len(set(colours)) == n
        assert all(0 <= c <= 255 for rgb in colours for c in rgb)
        # neighbouring labels (often neighbouring objects) are far apart
        rgb = np.asarray(colours, np.float64)
        assert n == 1 or np.linalg.norm(np.diff(rgb, axis=0), axis=1).min() \
            > 60
    assert len(palette(1203)) == 1203  # LVIS: any size
    assert palette(200) == palette(200) and palette(200)[:80] == palette(80)


def test_colours_are_rgb_palette_drawn_in_bgr():
    """A class drawn on a black image shows its palette colour, read back in
    RGB: the BGR/RGB swap that drew yellow as cyan is gone."""
    image = np.zeros((64, 64, 3), np.uint8)  # BGR
    labels = np.full((64, 64), 5, np.int64)
    labels[:, :8] = NO_CLASS
    names = [f'c{i}' for i in range(200)]
    out = draw_segmentation(image, labels, names, alpha=1.0)
    # upscaled to 384 px before the legend, which goes beside the image
    assert out.shape[0] == 384 and out.shape[1] > 384
    rgb = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    assert tuple(rgb[383, 383]) == palette(200)[5]
    assert tuple(rgb[383, 0]) == (0, 0, 0)  # 'no class' left as is
    assert (rgb[:, 384:] == 255).mean() > 0.5  # the legend's white panel
    boxes = np.array([[10, 10, 50, 50]], np.float64)
    drawn = draw_detection(image, boxes, [150], [0.9], names)
    rgb = cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB)
    factor = drawn.shape[0] // 64
    assert tuple(rgb[50 * factor, 30 * factor]) == palette(200)[150]


def test_upscale_keeps_pixels():
    rng = np.random.RandomState(1)
    small = rng.randint(0, 255, (64, 48, 3), np.uint8)
    big, factor = upscale(small)
    assert factor == 8 and big.shape == (512, 384, 3)
    np.testing.assert_array_equal(big[::8, ::8], small)
    same, one = upscale(np.zeros((500, 400, 3), np.uint8))
    assert one == 1.0 and same.shape == (500, 400, 3)


def test_open_clip_style_recipe(scenes, clip_weights, prompt):
    """The five-line recipe gives the cls inferencer's scores (both resize
    with PIL's bicubic, then crop, then CLIP's mean/std)."""
    from PIL import Image

    from pomp_mm.apis import create_model_and_transforms
    path = osp.join(_test_images(scenes), '00000.png')
    model, preprocess = create_model_and_transforms(
        'pomp-test-vit', clip_weights, prompt=prompt)
    text = model.encode_vocabulary(['red heart', 'blue star'])
    image = model.encode_image(preprocess(Image.open(path))[None])
    probs = (model.logit_scale * image @ text.T).softmax(dim=-1)[0]
    pred = PompInferencer('cls', model_name='pomp-test-vit',
                          clip_checkpoint=clip_weights, prompt=prompt)(
        path, texts=['red heart', 'blue star'])['predictions'][0]
    got = dict(zip(pred['labels'], pred['scores']))
    np.testing.assert_allclose([got['red heart'], got['blue star']],
                               probs.numpy(), rtol=1e-4, atol=1e-5)


def test_cls_visualization_hook_colours_and_names(tmp_path):
    """mmpretrain's hook, fixed: a yellow BGR input is drawn yellow (not
    cyan), 64 px is drawn at 384 px, and a/img.png and b/img.png are two
    pictures."""
    from mmpretrain.structures import DataSample
    from mmpretrain.visualization import UniversalVisualizer

    from pomp_mm.cls.visualization import PompClsVisualizationHook
    UniversalVisualizer.get_instance('pomp_cls_vis_test')
    hook = PompClsVisualizationHook(enable=True, interval=1,
                                    out_dir=str(tmp_path))
    hook._bgr, hook._root = True, str(tmp_path)
    yellow_bgr = torch.tensor([0, 255, 255], dtype=torch.uint8)
    image = yellow_bgr.view(3, 1, 1).expand(3, 64, 64).clone()
    samples = []
    for sub in ('a', 'b'):
        sample = DataSample().set_pred_score(torch.tensor([0.3, 0.7]))
        sample.set_pred_label(1).set_metainfo(
            dict(img_path=str(tmp_path / sub / 'img.png')))
        samples.append(sample)
    hook._draw_samples(0, dict(inputs=[image, image]), samples)
    for sub in ('a', 'b'):
        drawn = cv2.imread(str(tmp_path / sub / 'img_0.png'))
        assert drawn is not None and min(drawn.shape[:2]) >= 384
        assert tuple(drawn[-1, -1]) == (0, 255, 255)  # BGR yellow
