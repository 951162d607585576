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
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi

from .zero_shot_classifier import PompZeroShotClassifier, resolve_vocabulary

Vocabulary = Optional[Union[str, Sequence[str]]]


@MODELS.register_module()
class PompTwoStageDetector(TwoStageDetector):
    """A two-stage detector whose classifier vocabulary can change.

    The vocabulary used at test time is, by priority: ``test_vocabulary``;
    the ``text`` of the data samples (mmdet datasets with
    ``return_classes=True``); the test set's classes from
    :class:`~pomp_mm.core.VocabularyHook`; the training vocabulary.

    Images whose data sample has an ``image_labels`` meta field (see
    :class:`~pomp_mm.det.ImageLabelDataset`) take no box loss; their largest
    RPN proposal is trained towards the image labels (Detic's max-size
    loss, :meth:`PompBBoxHead.image_label_loss`).

    Args:
        train_vocabulary (str | Sequence[str], optional): Training class
            names, a class-name file or a built-in list (see
            :func:`resolve_vocabulary`); else taken from the training set by
            ``VocabularyHook``. Defaults to None.
        test_vocabulary (str | Sequence[str], optional): Fixed test class
            names (they override the datasets'). Defaults to None.
        **kwargs: ``TwoStageDetector`` arguments (backbone, neck, rpn_head,
            roi_head, train_cfg, test_cfg, data_preprocessor, init_cfg).
    """

    def __init__(self,
                 *args,
                 train_vocabulary: Vocabulary = None,
                 test_vocabulary: Vocabulary = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._vocab: Dict[str, Optional[List[str]]] = {
            'train': None, 'test': None}
        self._fixed = {'train': train_vocabulary is not None,
                       'test': test_vocabulary is not None}
        for mode, vocab in (('train', train_vocabulary),
                            ('test', test_vocabulary)):
            if vocab is not None:
                self._vocab[mode] = resolve_vocabulary(vocab)
        if not self.classifiers():
            raise ValueError(
                'PompTwoStageDetector: its roi_head has no '
                'PompZeroShotClassifier; set roi_head.bbox_head.'
                "cls_predictor_cfg=dict(type='PompZeroShotClassifier', ...)")

    # -- vocabulary ---------------------------------------------------------
    def classifiers(self) -> List[PompZeroShotClassifier]:
        """The zero-shot classifiers of all bbox heads."""
        return [m for m in self.modules()
                if isinstance(m, PompZeroShotClassifier)]

    def set_vocabulary(self,
                       vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       force: bool = False) -> None:
        """Set the ``'train'`` or ``'test'`` vocabulary (``VocabularyHook``).

        Args:
            vocabulary (str | Sequence[str]): Class names, a class-name file
                or a built-in list (see :func:`resolve_vocabulary`).
            mode (str): ``'train'`` or ``'test'``. Defaults to ``'test'``.
            force (bool): Replace a vocabulary fixed in the config too, and
                (test) take precedence over ``data_sample.text``, as the
                demo does. Defaults to False (a fixed one is kept).
        """
        if mode not in self._vocab:
            raise ValueError(f"mode={mode!r}: expected 'train' or 'test'")
        if force or not self._fixed[mode]:
            self._vocab[mode] = resolve_vocabulary(vocabulary)
            self._fixed[mode] = self._fixed[mode] or force

    @property
    def vocabulary(self) -> List[str]:
        """The class names the classifiers score now."""
        return list(self.classifiers()[0].class_names)

    def _use_vocabulary(self, mode: str,
                        data_samples: Optional[SampleList] = None) -> None:
        names = None
        if mode == 'test' and not self._fixed['test'] and data_samples:
            text = data_samples[0].metainfo.get('text')
            if text is not None:
                names = [text] if isinstance(text, str) else list(text)
        names = names or self._vocab[mode] or self._vocab['train']
        if names is None:
            return  # the classifiers keep their own (config) vocabulary
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
        for classifier in self.classifiers():
            classifier.set_vocabulary(names)

    # -- forward ------------------------------------------------------------
    def loss(self, batch_inputs: torch.Tensor,
             batch_data_samples: SampleList) -> dict:
        """Box losses, plus the max-size loss of image-labelled images."""
        self._use_vocabulary('train')
        image_idx = [i for i, s in enumerate(batch_data_samples)
                     if 'image_labels' in s.metainfo]
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
            [batch_data_samples[i] for i in image_idx]))
        return losses

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

    def _image_label_loss(self, x: tuple, data_samples: SampleList) -> dict:
        """Max-size loss: each image's largest proposal, its image labels."""
        with torch.no_grad():
            proposals = self.rpn_head.predict(x, data_samples, rescale=False)
        boxes = []
        for sample, props in zip(data_samples, proposals):
            b = props.bboxes
            if len(b) == 0:  # no proposal: the whole image
                h, w = sample.metainfo['img_shape'][:2]
                b = b.new_tensor([[0, 0, w, h]])
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            boxes.append(b[area.argmax()][None])
        rois = bbox2roi(boxes)
        cls_score = self.roi_head._bbox_forward(x, rois)['cls_score']
        labels = [torch.as_tensor(s.metainfo['image_labels'])
                  for s in data_samples]
        return self.roi_head.bbox_head.image_label_loss(cls_score, labels)

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
