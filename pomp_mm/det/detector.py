# Copyright (c) pomp_mm contributors. All rights reserved.
"""mmdet's two-stage detector with an open vocabulary.

:class:`PompTwoStageDetector` is mmdet's ``TwoStageDetector`` (the class
behind ``FasterRCNN``) plus vocabulary handling: the classes its
:class:`~pomp_mm.det.PompZeroShotClassifier` heads score are the training
set's for training and, at test time, the test set's (``return_classes=True``
puts them in ``data_sample.text``), a fixed ``test_vocabulary`` or whatever
the demo passes. Optionally it also trains on image-labelled images with
Detic's max-size loss.
"""
import copy
import logging
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmengine.logging import print_log

from pomp_mm.core.vocabulary import (DATASET, EXPLICIT, PhaseVocabularies,
                                     split_dotted)

from .bbox_head import largest_box
from .captions import (caption_features, gather_caption_features,
                       pick_captions)
from .cascade import PompCascadeRoIHead
from .zero_shot_classifier import PompZeroShotClassifier, resolve_vocabulary

Vocabulary = Optional[Union[str, Sequence[str]]]


@MODELS.register_module()
class PompTwoStageDetector(TwoStageDetector):
    """A two-stage detector whose classifier vocabulary can change.

    The vocabularies follow the rule of :mod:`pomp_mm.core.vocabulary`;
    at test time: an explicit ``test_vocabulary`` (config or
    :meth:`set_vocabulary`); the ``text`` of the data samples (mmdet
    datasets with ``return_classes=True``); the test set's classes from
    :class:`~pomp_mm.core.VocabularyHook`; the training vocabulary; the
    classifiers' own.

    Images whose data sample has an ``image_labels`` meta field (see
    :class:`~pomp_mm.det.ImageLabelDataset`) take no box loss; the largest
    of their ``ws_num_props`` highest-scoring proposals is trained towards
    the image labels (Detic's max-size loss,
    :meth:`PompBBoxHead.image_label_loss`); with a
    :class:`~pomp_mm.det.PompCascadeRoIHead`, in every stage
    (:meth:`PompCascadeRoIHead.image_label_loss`).

    With ``with_caption``, image-labelled images that also carry
    ``captions`` (``ImageLabelDataset(with_captions=True)``) add Detic's
    caption loss: one of their captions, drawn at random and encoded by a
    frozen CLIP text tower, is the positive of their whole-image box, the
    other images' captions (of all processes with ``sync_caption_batch``)
    its negatives (:meth:`PompBBoxHead.caption_loss`). Detic uses it in
    OV-COCO only, with a single-stage RoI head; so does this class.

    Args:
        train_vocabulary (str | Sequence[str], optional): Training class
            names, a class-name file or a built-in list (see
            :func:`resolve_vocabulary`); else taken from the training set by
            ``VocabularyHook``. Defaults to None.
        test_vocabulary (str | Sequence[str], optional): Fixed test class
            names (they override the datasets'). Defaults to None.
        ws_num_props (int): How many of an image-labelled image's
            proposals (the highest-scoring ones) the max-size loss chooses
            its largest box from: Detic's ``WS_NUM_PROPS`` (its default 128;
            OV-COCO 32). Defaults to 128.
        with_caption (bool): Add the caption loss (Detic's
            ``WITH_CAPTION``). Defaults to False.
        sync_caption_batch (bool): Take the negatives from the captions of
            all processes (Detic's ``SYNC_CAPTION_BATCH``). Defaults to True.
        caption_clip (dict, optional): A ``FrozenCLIP`` config whose text
            tower encodes the captions (Detic: CLIP ViT-B/32). None uses
            the CLIP of the classifier's prompt learner. Defaults to None.
        **kwargs: ``TwoStageDetector`` arguments (backbone, neck, rpn_head,
            roi_head, train_cfg, test_cfg, data_preprocessor, init_cfg).
    """

    def __init__(self,
                 *args,
                 train_vocabulary: Vocabulary = None,
                 test_vocabulary: Vocabulary = None,
                 ws_num_props: int = 128,
                 with_caption: bool = False,
                 sync_caption_batch: bool = True,
                 caption_clip: Optional[dict] = None,
                 **kwargs) -> None:
        if not isinstance(ws_num_props, int) or ws_num_props < 1:
            raise ValueError(f'PompTwoStageDetector: ws_num_props='
                             f'{ws_num_props!r}; expected an int >= 1')
        super().__init__(*args, **kwargs)
        self.ws_num_props = ws_num_props
        self.with_caption = with_caption
        self.sync_caption_batch = sync_caption_batch
        if with_caption:
            self._build_caption_encoder(caption_clip)
        self.vocabularies = PhaseVocabularies(type(self).__name__,
                                              reader=resolve_vocabulary)
        for mode, vocab in (('train', train_vocabulary),
                            ('test', test_vocabulary)):
            if vocab is not None:
                self.vocabularies.set(vocab, mode)
        if not self.classifiers():
            raise ValueError(
                'PompTwoStageDetector: its roi_head has no '
                'PompZeroShotClassifier; set roi_head.bbox_head.'
                "cls_predictor_cfg=dict(type='PompZeroShotClassifier', ...)")
        built = list(self.classifiers()[0].class_names) or None
        self._builtin = dict(train=built, test=built)
        self._active = None

    def _build_caption_encoder(self, caption_clip: Optional[dict]) -> None:
        """The caption loss's text tower, checked before training starts."""
        name = type(self).__name__
        if isinstance(self.roi_head, PompCascadeRoIHead):
            raise ValueError(
                f'{name}: with_caption=True needs a single-stage RoI head '
                '(Detic adds the caption loss in OV-COCO only, on its Res5 '
                'head); got PompCascadeRoIHead')
        classifier = self.classifiers()[0]
        if caption_clip is not None:
            cfg = dict(caption_clip)
            cfg.setdefault('text_only', True)
            self.caption_clip = MODELS.build(cfg)
            self.caption_clip.requires_grad_(False)
        elif classifier.prompt_learner is not None:  # shared, not copied
            self.__dict__['caption_clip'] = classifier.prompt_learner.clip
        else:
            raise ValueError(
                f'{name}: with_caption=True needs a CLIP text tower for the '
                'captions: the classifier reads zs_weight_path '
                f'{classifier.zs_weight_path}; set caption_clip=dict('
                "type='FrozenCLIP', model_name=..., checkpoint=...)")
        dim = self.caption_clip.embed_dim
        if dim != classifier.zs_weight_dim:
            raise ValueError(
                f'{name}: caption_clip gives {dim}-d text features but the '
                f'classifier scores {classifier.zs_weight_dim}-d ones; use '
                'the CLIP the class text features came from')

    @property
    def _vocab(self) -> Dict[str, Optional[List[str]]]:
        """The vocabularies set or offered per phase (read-only view)."""
        return {m: self.vocabularies.get(m) for m in ('train', 'test')}

    # -- vocabulary ---------------------------------------------------------
    def classifiers(self) -> List[PompZeroShotClassifier]:
        """The zero-shot classifiers of all bbox heads."""
        return [m for m in self.modules()
                if isinstance(m, PompZeroShotClassifier)]

    def set_vocabulary(self,
                       vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       force: bool = False,
                       source: str = EXPLICIT) -> None:
        """Set the ``'train'`` or ``'test'`` vocabulary.

        Args:
            vocabulary (str | Sequence[str]): Class names, a class-name file
                or a built-in list (see :func:`resolve_vocabulary`).
            mode (str): ``'train'`` or ``'test'``. Defaults to ``'test'``.
            force (bool): Kept for this release: an explicit call always
                replaces the vocabulary and (test) takes precedence over
                ``data_sample.text``. Defaults to False.
            source (str): ``'explicit'`` or ``'dataset'``
                (``VocabularyHook``, which never replaces an explicit one).
                Defaults to ``'explicit'``.
        """
        self.vocabularies.set(vocabulary, mode,
                              EXPLICIT if force else source)

    @property
    def dataset_meta(self) -> Optional[dict]:
        """The checkpoint's ``meta['dataset_meta']``, as mmdet's
        ``init_detector`` and ``DetInferencer`` set it."""
        return self.__dict__.get('_dataset_meta')

    @dataset_meta.setter
    def dataset_meta(self, meta: Optional[dict]) -> None:
        """Offer the checkpoint's classes (its training set's) as the test
        vocabulary (source ``'dataset'``: an explicit ``test_vocabulary``
        and the batch's ``text``, e.g. ``DetInferencer(texts=...)``, win).

        mmdet fills in COCO's 80 names when a checkpoint records no classes;
        that guess is not taken as a vocabulary (a warning says so).
        """
        self.__dict__['_dataset_meta'] = meta
        classes = list((meta or {}).get('classes') or ())
        if not classes:
            return
        from mmdet.evaluation import get_classes
        if set(meta) == {'classes'} and classes == list(get_classes('coco')):
            print_log(
                f'{type(self).__name__}: the checkpoint names no classes '
                "(mmdet's COCO default is not used as the vocabulary); give "
                "texts='a . b .' to DetInferencer or set test_vocabulary",
                logger='current', level=logging.WARNING)
            return
        if self.vocabularies.accepts('test', DATASET):
            self.set_vocabulary(classes, 'test', source=DATASET)
            print_log(
                f'{type(self).__name__}: test vocabulary: the '
                f"checkpoint's {len(classes)} classes (dataset_meta); "
                "texts='a . b .' or test_vocabulary overrides it",
                logger='current')

    @property
    def vocabulary(self) -> List[str]:
        """The class names the classifiers score now."""
        return list(self.classifiers()[0].class_names)

    def _use_vocabulary(self, mode: str,
                        data_samples: Optional[SampleList] = None) -> None:
        names = None
        if mode == 'test' and data_samples and \
                self.vocabularies.source('test') != EXPLICIT:
            text = data_samples[0].metainfo.get('text')
            for i, sample in enumerate(data_samples[1:], 1):
                if sample.metainfo.get('text') != text:
                    # e.g. COCO and Objects365 test images in one batch of
                    # a ConcatDataset: one vocabulary would score both
                    raise ValueError(
                        f'test batch: image {i} has other class names '
                        f'(text) than image 0; one batch is scored with '
                        f'one vocabulary: use test batch_size=1 when test '
                        f'sets with different classes are concatenated')
            if text is not None:  # the dataset's classes, per batch, or
                # DetInferencer(texts='a . b .'), GLIP's string form
                names = split_dotted(text) if isinstance(text, str) \
                    else list(text)
                key = (DATASET, tuple(names))
        if not names:
            names, key = self.vocabularies.resolve(mode, self._builtin,
                                                   required=False)
        if names is None:
            return  # .npy features: the classifiers keep their own
        classifiers = self.classifiers()
        active = (key, tuple(c.vocabulary_version for c in classifiers))
        if active == self._active:  # one tuple compare per step
            return
        if mode == 'train':
            heads = [m for m in self.modules() if hasattr(m, '_num_classes')
                     and isinstance(getattr(m, 'fc_cls', None),
                                    PompZeroShotClassifier)]
            for head in heads:
                if len(names) != head._num_classes:
                    raise ValueError(
                        f'the training vocabulary has {len(names)} classes '
                        f'but the bbox head has num_classes='
                        f'{head._num_classes}; make them equal')
        for classifier in classifiers:
            classifier.set_vocabulary(names)
        self._active = (key, tuple(c.vocabulary_version
                                   for c in classifiers))

    # -- forward ------------------------------------------------------------
    def loss(self, batch_inputs: torch.Tensor,
             batch_data_samples: SampleList) -> dict:
        """Box losses, plus the max-size loss of image-labelled images."""
        self._use_vocabulary('train')
        image_idx = [i for i, s in enumerate(batch_data_samples)
                     if 'image_labels' in s.metainfo]
        captions = self._batch_captions(
            [batch_data_samples[i] for i in image_idx],
            batch_inputs.device)
        if not image_idx:
            return super().loss(batch_inputs, batch_data_samples)
        box_idx = [i for i in range(len(batch_data_samples))
                   if i not in image_idx]
        x = self.extract_feat(batch_inputs)
        losses = {}
        if box_idx:
            losses.update(self._box_loss(
                tuple(f[box_idx] for f in x),
                [batch_data_samples[i] for i in box_idx]))
        losses.update(self._image_label_loss(
            tuple(f[image_idx] for f in x),
            [batch_data_samples[i] for i in image_idx], captions))
        return losses

    def _batch_captions(self, data_samples: SampleList,
                        device: torch.device) -> Optional[tuple]:
        """With ``with_caption``: the caption features of the batch (all
        processes' with ``sync_caption_batch``; a collective, so called at
        every step) and the row of this process's first one."""
        if not self.with_caption:
            return None
        picked = pick_captions([s.metainfo['captions'] for s in data_samples
                                if 'captions' in s.metainfo])
        feats = caption_features(self.caption_clip, picked, device)
        if self.sync_caption_batch:
            return gather_caption_features(feats)
        return feats, 0

    def _box_loss(self, x: tuple, data_samples: SampleList) -> dict:
        """``TwoStageDetector.loss`` on already extracted features."""
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.rpn)
        rpn_samples = copy.deepcopy(data_samples)
        for sample in rpn_samples:
            sample.gt_instances.labels = torch.zeros_like(
                sample.gt_instances.labels)
        rpn_losses, proposals = self.rpn_head.loss_and_predict(
            x, rpn_samples, proposal_cfg=proposal_cfg)
        losses = {(k if 'rpn' in k or 'loss' not in k else f'rpn_{k}'): v
                  for k, v in rpn_losses.items()}
        losses.update(self.roi_head.loss(x, proposals, data_samples))
        return losses

    def _image_label_loss(self, x: tuple, data_samples: SampleList,
                          captions: Optional[tuple] = None) -> dict:
        """Max-size loss: the largest of each image's top ``ws_num_props``
        proposals (by score, Detic's ``get_top_proposals``), its image
        labels; with ``captions`` (see :meth:`_batch_captions`), the
        caption loss of the whole-image boxes of the images with
        captions."""
        with torch.no_grad():
            proposals = self.rpn_head.predict(x, data_samples, rescale=False)
        boxes = []
        for sample, props in zip(data_samples, proposals):
            order = props.scores.argsort(descending=True, stable=True)
            b = props.bboxes[order[:self.ws_num_props]]
            if len(b) == 0:  # no proposal: the whole image
                h, w = sample.metainfo['img_shape'][:2]
                b = b.new_tensor([[0, 0, w, h]])
            boxes.append(b)
        labels = [torch.as_tensor(s.metainfo['image_labels'])
                  for s in data_samples]
        if isinstance(self.roi_head, PompCascadeRoIHead):  # every stage
            return self.roi_head.image_label_loss(
                x, boxes, labels, [s.metainfo for s in data_samples])
        has_caption = [captions is not None and 'captions' in s.metainfo
                       for s in data_samples]
        rois = []  # per image: its largest box, then its whole-image box
        for sample, b, cap in zip(data_samples, boxes, has_caption):
            rois.append(b[largest_box(b)][None])
            if cap:  # Detic's ADD_IMAGE_BOX
                h, w = sample.metainfo['img_shape'][:2]
                rois[-1] = torch.cat([rois[-1], b.new_tensor([[0, 0, w,
                                                                h]])])
        head = self.roi_head.bbox_head
        with head.cls_features() as feats:
            cls_score = self.roi_head._bbox_forward(
                x, bbox2roi(rois))['cls_score']
        rows = torch.tensor([0] + [len(r) for r in rois[:-1]],
                            device=cls_score.device).cumsum(0)
        losses = head.image_label_loss(cls_score[rows], labels)
        if captions is not None:
            all_caps, start = captions
            image_rows = [int(r) + 1 for r, c in zip(rows, has_caption)
                          if c]
            losses.update(head.caption_loss(
                feats[0][image_rows], all_caps,
                list(range(start, start + len(image_rows)))))
        return losses

    def predict(self,
                batch_inputs: torch.Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detections over the test vocabulary; ``pred_instances`` also get
        ``label_names`` (the class name of each box)."""
        self._use_vocabulary('test', batch_data_samples)
        samples = super().predict(batch_inputs, batch_data_samples, rescale)
        names = self.vocabulary  # empty for unnamed .npy weights
        for sample in samples:
            labels = sample.pred_instances.labels.tolist()
            sample.pred_instances.label_names = [
                names[i] if names else str(i) for i in labels]
        return samples
