"""ZSSeg stage 2: a MaskFormer whose classifier is the frozen POMP prompt.

POMP's reported segmentation numbers come from ZSSeg's two-stage protocol.
Stage 1 tunes the prompt on seen classes (:class:`PompMaskCLIP` in training
mode). Stage 2 trains a mask-proposal segmentor whose query classifier is
``logit_scale * cos(proj(query), [text features of the frozen stage-1 prompt;
no-object embedding])``. At inference, the class probabilities of each mask are
ensembled with CLIP's probabilities on the masked crop
(:func:`~pomp_mm.seg.ensemble.clip_ensemble`, λ per dataset).

:class:`PompMaskFormerHead` is mmseg's ``MaskFormerHead`` with that
classifier; :class:`PompZSSeg` is an ``EncoderDecoder`` that hands the image
to the head for the CLIP ensemble and switches vocabularies (seen classes
for training, all classes for testing).
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmseg.models.decode_heads import MaskFormerHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import SampleList

from pomp_mm.core.vocabulary import (EXPLICIT, PhaseVocabularies,
                                     read_vocabulary)

from .ensemble import clip_ensemble
from .maskclip import masked_crops  # noqa: F401 (also its old home)
from .text_encoder import PompTextEncoder


class TextEmbedClassifier(nn.Module):
    """Query classifier: scaled cosine with (N+1) text/no-object embeddings.

    Args:
        in_channels (int): Query feature channels.
        text_encoder (PompTextEncoder): With ``cat_bg=True``; its last row
            (the learned background embedding) is the no-object class.
    """

    def __init__(self, in_channels: int,
                 text_encoder: PompTextEncoder) -> None:
        super().__init__()
        if not text_encoder.cat_bg:
            raise ValueError('the MaskFormer text classifier needs '
                             'text_encoder.cat_bg=True (no-object row)')
        self.proj = nn.Linear(in_channels, text_encoder.clip.embed_dim)
        self.text_encoder = text_encoder

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """(..., in_channels) -> (..., N+1) logits, no-object last."""
        q = F.normalize(self.proj(queries), dim=-1)
        return q @ self.text_encoder().to(q).t()


@MODELS.register_module()
class PompMaskFormerHead(MaskFormerHead):
    """mmseg's MaskFormerHead classifying queries with the POMP prompt.

    Args:
        text_encoder (dict): :class:`PompTextEncoder` config (``cat_bg=True``,
            usually a frozen stage-1 prompt). Its vocabulary at build time
            (the seen classes) sets ``num_classes`` and the class weights.
        clip_ensemble_lambda (float, optional): λ of the CLIP ensemble at
            inference (0.8 COCO, 0.7 VOC, 0.5 ADE, 0.2 PC-59); None turns
            the ensemble off. Defaults to None.
        no_object_weight (float): CE weight of the no-object class when
            ``loss_cls.class_weight`` is not given. Defaults to 0.1.
        **kwargs: Other ``MaskFormerHead`` arguments.
    """

    def __init__(self,
                 text_encoder: dict,
                 clip_ensemble_lambda: Optional[float] = None,
                 no_object_weight: float = 0.1,
                 **kwargs) -> None:
        encoder = MODELS.build(text_encoder)
        num_classes = encoder.num_classes
        if num_classes == 0:
            raise ValueError('PompMaskFormerHead: text_encoder needs a '
                             'vocabulary (the seen classes) at build time')
        given = kwargs.pop('num_classes', None)
        if given is not None and given != num_classes:
            raise ValueError(
                f'PompMaskFormerHead: num_classes={given} but the text '
                f'encoder vocabulary has {num_classes} classes')
        loss_cls = ConfigDict(kwargs.get('loss_cls') or {})
        if loss_cls.get('class_weight') is None:
            loss_cls['class_weight'] = [1.0] * num_classes + [
                no_object_weight]
        kwargs['loss_cls'] = loss_cls
        super().__init__(num_classes=num_classes, **kwargs)
        self.cls_embed = TextEmbedClassifier(kwargs['feat_channels'],
                                             encoder)
        self.clip_ensemble_lambda = clip_ensemble_lambda
        self.seen: Optional[torch.Tensor] = None  # (N,) bool at test

    @property
    def text_encoder(self) -> PompTextEncoder:
        """The text encoder inside the query classifier."""
        return self.cls_embed.text_encoder

    def set_vocabulary(self, names: Sequence[str],
                       seen: Optional[Sequence[str]] = None) -> None:
        """Switch the classifier's vocabulary.

        Args:
            names (Sequence[str]): Class names to classify.
            seen (Sequence[str], optional): The training (seen) classes;
                classes outside it take the unseen ensemble formula.
                Defaults to None (all unseen).
        """
        self.text_encoder.set_vocabulary(names)
        self.num_classes = self.out_channels = len(names)
        self.seen = None if seen is None else torch.tensor(
            [n in set(seen) for n in names])

    def clip_probs(self, images: torch.Tensor,
                   mask_probs: torch.Tensor) -> torch.Tensor:
        """CLIP class probabilities of each mask's crop.

        Args:
            images (Tensor): (B, 3, H, W) normalised images.
            mask_probs (Tensor): (B, Q, H, W) mask probabilities.

        Returns:
            Tensor: (B, Q, N); uniform for empty masks.
        """
        clip = self.text_encoder.clip
        text = self.text_encoder.class_features()
        out = []
        for image, probs in zip(images, mask_probs):
            crops, valid = masked_crops(image, probs > 0.5, clip.image_size)
            p = text.new_full((len(crops), len(text)), 1.0 / len(text))
            if valid.any():
                feats = clip.encode_image(crops[valid], normalize=True)
                logits = clip.logit_scale * feats.float() @ text.t()
                p[valid] = logits.softmax(-1)
            out.append(p)
        return torch.stack(out)

    def predict(self,
                x: Tuple[torch.Tensor],
                batch_img_metas: List[dict],
                test_cfg: dict,
                images: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, N, H, W) semantic scores, CLIP-ensembled when λ is set."""
        samples = []
        for meta in batch_img_metas:
            meta['batch_input_shape'] = meta['img_shape']
            samples.append(SegDataSample(metainfo=meta))
        all_cls, all_masks = self(x, samples)
        masks = F.interpolate(all_masks[-1],
                              size=batch_img_metas[0]['batch_input_shape'],
                              mode='bilinear', align_corners=False).sigmoid()
        scores = F.softmax(all_cls[-1], dim=-1)[..., :-1]
        if self.clip_ensemble_lambda is not None:
            if images is None:
                raise ValueError('the CLIP ensemble needs the input images '
                                 '(use PompZSSeg as the segmentor)')
            if images.shape[-2:] != masks.shape[-2:]:
                masks_img = F.interpolate(masks, size=images.shape[-2:],
                                          mode='bilinear',
                                          align_corners=False)
            else:
                masks_img = masks
            p_clip = self.clip_probs(images, masks_img)
            scores = clip_ensemble(scores, p_clip.to(scores), self.seen,
                                   self.clip_ensemble_lambda)
        return torch.einsum('bqc,bqhw->bchw', scores, masks)


@MODELS.register_module()
class PompZSSeg(EncoderDecoder):
    """EncoderDecoder for :class:`PompMaskFormerHead` (ZSSeg stage 2).

    It trains on the seen vocabulary and tests on the full one (set by
    ``VocabularyHook`` or ``train_vocabulary`` / ``test_vocabulary``), and
    passes the images to the head for the CLIP ensemble.

    Args:
        train_vocabulary (str | Sequence[str], optional): Seen classes.
            Defaults to None (the head's build-time vocabulary).
        test_vocabulary (str | Sequence[str], optional): Test classes.
            Defaults to None.
        **kwargs: ``EncoderDecoder`` arguments (``backbone``,
            ``decode_head`` of type ``PompMaskFormerHead``, ...).
    """

    def __init__(self,
                 train_vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 test_vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(self.decode_head, PompMaskFormerHead):
            raise TypeError('PompZSSeg: decode_head must be a '
                            'PompMaskFormerHead, got '
                            f'{type(self.decode_head).__name__}')
        self.vocabularies = PhaseVocabularies('PompZSSeg')
        #: the head's build-time vocabulary: the seen classes
        self._builtin = dict(
            train=list(self.decode_head.text_encoder.class_names))
        if train_vocabulary is not None:
            self.set_vocabulary(train_vocabulary, 'train')
        if test_vocabulary is not None:
            self.set_vocabulary(test_vocabulary, 'test')

    def set_vocabulary(self, vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       source: str = EXPLICIT) -> None:
        """Set the ``'train'`` (seen) or ``'test'`` vocabulary (``source``:
        ``'explicit'`` or ``'dataset'``, see :mod:`pomp_mm.core.vocabulary`).
        """
        if not self.vocabularies.accepts(mode, source):
            return
        names = read_vocabulary(vocabulary)
        if mode == 'train' and len(names) != len(
                self.decode_head.class_weight) - 1:
            raise ValueError(
                f'train vocabulary has {len(names)} classes but the head '
                f'was built for {len(self.decode_head.class_weight) - 1}')
        self.vocabularies.store(names, mode, source)

    def _use_vocabulary(self, mode: str) -> None:
        names, _ = self.vocabularies.resolve(mode, self._builtin)
        seen = self.vocabularies.resolve('train', self._builtin)[0] \
            if mode == 'test' else None
        head = self.decode_head
        if head.text_encoder.class_names != names or mode == 'test':
            head.set_vocabulary(names, seen)
        self.num_classes = self.out_channels = len(names)

    def loss(self, inputs: torch.Tensor, data_samples: SampleList) -> dict:
        """MaskFormer losses over the seen vocabulary."""
        self._use_vocabulary('train')
        return super().loss(inputs, data_samples)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Segment with the test vocabulary (CLIP-ensembled)."""
        self._use_vocabulary('test')
        return super().predict(inputs, data_samples)

    def encode_decode(self, inputs: torch.Tensor,
                      batch_img_metas: List[dict]) -> torch.Tensor:
        """(B, N, H, W) scores at the input size; the head sees images."""
        x = self.extract_feat(inputs)
        seg = self.decode_head.predict(x, batch_img_metas, self.test_cfg,
                                       images=inputs)
        return F.interpolate(seg, size=inputs.shape[2:], mode='bilinear',
                             align_corners=self.align_corners)
