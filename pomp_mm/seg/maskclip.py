"""Training-free zero-shot segmentation with a POMP prompt (MaskCLIP-style).

The frozen CLIP ViT image tower gives one feature per patch when its last
block is run on the *value* embeddings only (MaskCLIP, Zhou et al. 2022): the
query/key attention, which mixes every patch into the class token, is skipped,
and each patch keeps ``x + out_proj(v(ln_1(x)))`` followed by the block's MLP,
``ln_post`` and the projection into the joint space. Cosine similarity of
these dense features with the prompt's text features, times CLIP's
temperature, gives per-pixel class logits. Nothing is trained: CLIP weights
and a prompt file are all it needs.

:class:`PompMaskCLIP` also trains, as stage 1 of the ZSSeg protocol POMP
reports: the prompt is fine-tuned on the seen classes by classifying each
ground-truth region (the image masked to one class, background filled with
the pixel mean, cropped to the region's box and resized to CLIP's input) with
cross-entropy over the seen vocabulary. The prompt it writes
(``PromptCheckpointHook``) is the classifier of stage 2.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList

from pomp_mm.core.clip import CLIP_MEAN, CLIP_STD  # noqa: F401 (old home)
from pomp_mm.core.vocabulary import EXPLICIT, PhaseVocabularies

from .text_encoder import PompTextEncoder


def masked_crops(image: torch.Tensor, masks: torch.Tensor,
                 size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mask-filled, box-cropped, resized regions of one image (ZSSeg).

    The one region cropping of the segmentors: stage 1's ground-truth
    regions and stage 2's CLIP ensemble.

    Args:
        image (Tensor): (3, H, W) normalised image (0 = the pixel mean).
        masks (Tensor): (M, H, W) bool masks.
        size (tuple[int, int]): CLIP's input size.

    Returns:
        tuple[Tensor, Tensor]: (M, 3, *size) crops (zeros for an empty
        mask) and (M,) bool, which masks were non-empty.
    """
    crops = image.new_zeros((len(masks), 3) + tuple(size))
    valid = masks.flatten(1).any(1)
    for i in torch.nonzero(valid).flatten().tolist():
        ys, xs = torch.nonzero(masks[i], as_tuple=True)
        y0, y1 = int(ys.min()), int(ys.max()) + 1
        x0, x1 = int(xs.min()), int(xs.max()) + 1
        crop = (image * masks[i])[:, y0:y1, x0:x1]
        crops[i] = F.interpolate(crop[None], size=tuple(size),
                                 mode='bilinear', align_corners=False)[0]
    return crops, valid


def _pos_embed(visual: nn.Module, grid: Sequence[int]) -> torch.Tensor:
    """ViT positional embeddings for a (gh, gw) patch grid (bicubic)."""
    pos = visual.positional_embedding
    cls_pos, patch_pos = pos[:1], pos[1:]
    gh0, gw0 = visual.grid_size
    if tuple(grid) == (gh0, gw0):
        return pos
    patch_pos = patch_pos.reshape(1, gh0, gw0, -1).permute(0, 3, 1, 2)
    patch_pos = F.interpolate(patch_pos.float(), size=tuple(grid),
                              mode='bicubic', align_corners=False)
    patch_pos = patch_pos.to(pos.dtype).permute(0, 2, 3, 1).reshape(
        grid[0] * grid[1], -1)
    return torch.cat([cls_pos, patch_pos])


def value_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A ViT residual block with attention replaced by its value path.

    Args:
        block (nn.Module): An open_clip ``ResidualAttentionBlock`` whose
            ``attn`` is an ``nn.MultiheadAttention``.
        x (Tensor): (B, L, width) tokens, batch first.

    Returns:
        Tensor: (B, L, width) ``x + out_proj(v) -> + mlp(ln_2(.))``, what the
        block computes if every token attends only to itself.
    """
    attn = block.attn
    width = x.shape[-1]
    weight = attn.in_proj_weight[2 * width:]
    bias = None if attn.in_proj_bias is None else \
        attn.in_proj_bias[2 * width:]
    v = F.linear(block.ln_1(x), weight, bias)
    x = x + block.ls_1(attn.out_proj(v))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


DENSE_MODES = ('value', 'cls', 'plain')


def cls_value_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The class token's last block, attending to one patch at a time.

    Args:
        block (nn.Module): An open_clip ``ResidualAttentionBlock`` whose
            ``attn`` is an ``nn.MultiheadAttention``.
        x (Tensor): (B, 1 + HW, width) tokens, batch first, class token
            first.

    Returns:
        Tensor: (B, HW, width): for each patch j, ``cls + out_proj(v_j)``
        followed by the block's MLP, i.e. the class token's output when its
        attention is restricted to patch j.
    """
    attn = block.attn
    width = x.shape[-1]
    weight = attn.in_proj_weight[2 * width:]
    bias = None if attn.in_proj_bias is None else \
        attn.in_proj_bias[2 * width:]
    v = F.linear(block.ln_1(x[:, 1:]), weight, bias)
    y = x[:, :1] + block.ls_1(attn.out_proj(v))
    y = y + block.ls_2(block.mlp(block.ln_2(y)))
    # keep a placeholder class token so the caller can drop index 0
    return torch.cat([x[:, :1], y], dim=1)


def clip_dense_features(visual: nn.Module,
                        images: torch.Tensor,
                        mode: str = 'value') -> torch.Tensor:
    """Per-patch features of an open_clip ViT in CLIP's joint space.

    Args:
        visual (nn.Module): open_clip ``VisionTransformer`` (token pooling,
            no attentional pooler).
        images (Tensor): (B, 3, H, W) normalised images; H and W are cut to
            multiples of the patch size.
        mode (str): How the last block makes one feature per patch:

            - ``'value'``: MaskCLIP; each patch token runs the block on its
              own value embedding (as if it attended only to itself).
            - ``'cls'``: the class token's output when it attends to that
              patch only (``cls + out_proj(v_j)``, then the MLP). The class
              token is what CLIP trained against text, so this suits small
              or shallow CLIPs whose patch tokens never learned the joint
              space (the mini-world's tiny CLIP: pixel accuracy 26% vs 4%
              with ``'value'``, see docs/miniworld.md).
            - ``'plain'``: the block as trained (dense features then mostly
              repeat the global one).

            Defaults to ``'value'``.

    Returns:
        Tensor: (B, D, H // patch, W // patch) features, not normalised.
    """
    if mode not in DENSE_MODES:
        raise ValueError(f'dense mode {mode!r}: expected one of '
                         f'{DENSE_MODES}')
    if not hasattr(visual, 'conv1') or getattr(visual, 'attn_pool',
                                               None) is not None:
        raise ValueError(
            f'dense CLIP features need a ViT image tower with token pooling;'
            f' got {type(visual).__name__} (ResNet and attention-pooled '
            'towers are not supported)')
    dtype = visual.conv1.weight.dtype
    x = visual.conv1(images.to(dtype))
    b, width, gh, gw = x.shape
    x = x.flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(x.dtype).expand(b, 1, width)
    x = torch.cat([cls, x], dim=1) + _pos_embed(visual, (gh, gw)).to(x.dtype)
    x = visual.ln_pre(x)
    transformer = visual.transformer
    batch_first = getattr(transformer, 'batch_first', True)
    blocks = transformer.resblocks
    if not batch_first:
        x = x.transpose(0, 1)
    for block in blocks[:-1]:
        x = block(x)
    if mode == 'plain':
        x = blocks[-1](x)
        if not batch_first:
            x = x.transpose(0, 1)
    else:
        if not batch_first:
            x = x.transpose(0, 1)
        last = value_block if mode == 'value' else cls_value_block
        x = last(blocks[-1], x)
    x = visual.ln_post(x[:, 1:])
    if visual.proj is not None:
        x = x @ visual.proj
    return x.transpose(1, 2).reshape(b, -1, gh, gw)


@MODELS.register_module()
class PompMaskCLIP(EncoderDecoder):
    """Zero-shot segmentor: dense CLIP features x POMP text features.

    Inference reuses :class:`~mmseg.models.EncoderDecoder`'s whole / slide
    inference and post-processing; training (``mode='loss'``) fine-tunes the
    prompt by masked-region classification (ZSSeg stage 1, see the module
    docstring). The class logits are ``logit_scale * cos``; the output
    channels follow the current vocabulary, so one model serves any dataset.

    Args:
        text_encoder (dict): A :class:`PompTextEncoder` config; its
            ``cat_bg`` is ignored (no background class here).
        dense_mode (str): How dense features are made, see
            :func:`clip_dense_features`: ``'value'`` (MaskCLIP), ``'cls'``
            or ``'plain'``. Defaults to ``'value'``.
        train_vocabulary (str | Sequence[str], optional): Seen classes for
            training; usually set by ``VocabularyHook`` from the training
            set. Defaults to None.
        test_vocabulary (str | Sequence[str], optional): Classes to segment;
            usually set by ``VocabularyHook`` from the test set. Defaults to
            None (the text encoder's own vocabulary).
        region_cfg (dict, optional): Stage-1 regions: ``min_area`` (pixels,
            default 16), ``max_regions`` per image (largest first, default
            8), ``ignore_index`` (default 255). Defaults to None.
        train_cfg (dict, optional): Unused, kept for mmseg. Defaults to None.
        test_cfg (dict, optional): mmseg test config, e.g.
            ``dict(mode='slide', crop_size=(224, 224), stride=(112, 112))``.
            Defaults to ``dict(mode='whole')``.
        data_preprocessor (dict, optional): Defaults to mmseg's
            ``SegDataPreProcessor`` with CLIP's mean/std, BGR to RGB.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 text_encoder: dict,
                 dense_mode: str = 'value',
                 train_vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 test_vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 region_cfg: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='mmseg.SegDataPreProcessor',
                                     mean=CLIP_MEAN, std=CLIP_STD,
                                     bgr_to_rgb=True, pad_val=0,
                                     seg_pad_val=255)
        # EncoderDecoder.__init__ builds a backbone/decode head: skip it
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor,
                               init_cfg=init_cfg)
        self.text_encoder: PompTextEncoder = MODELS.build(text_encoder)
        if not isinstance(self.text_encoder, PompTextEncoder):
            raise TypeError('PompMaskCLIP: text_encoder must build a '
                            'PompTextEncoder, got '
                            f'{type(self.text_encoder).__name__}')
        visual = self.clip.model.visual
        if visual is None or not hasattr(visual, 'conv1'):
            raise ValueError(
                f'PompMaskCLIP needs the ViT image tower of CLIP '
                f'{self.clip.model_name!r} (text_only=False, a ViT model)')
        if dense_mode not in DENSE_MODES:
            raise ValueError(f'PompMaskCLIP: dense_mode={dense_mode!r}, '
                             f'expected one of {DENSE_MODES}')
        self.dense_mode = dense_mode
        self.region_cfg = dict(min_area=16, max_regions=8, ignore_index=255)
        self.region_cfg.update(region_cfg or {})
        self.align_corners = False
        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict(test_cfg or dict(mode='whole'))
        self.vocabularies = PhaseVocabularies(
            'PompMaskCLIP', config_keys=dict(
                train='train_vocabulary (or text_encoder.vocabulary)',
                test='test_vocabulary (or text_encoder.vocabulary)'))
        built = list(self.text_encoder.class_names) or None
        self._builtin = dict(train=built, test=built)
        self._active = None
        for mode, vocab in (('train', train_vocabulary),
                            ('test', test_vocabulary)):
            if vocab is not None:
                self.set_vocabulary(vocab, mode)

    # -- properties mmseg's EncoderDecoder reads ------------------------------
    @property
    def clip(self):
        """The frozen CLIP shared by the image and text sides."""
        return self.text_encoder.clip

    @property
    def num_classes(self) -> int:
        """Classes of the current vocabulary."""
        return self.text_encoder.num_classes

    @property
    def out_channels(self) -> int:
        """Logit channels (= classes of the current vocabulary)."""
        return self.text_encoder.num_classes

    @property
    def with_decode_head(self) -> bool:
        """No decode head: the text features are the classifier."""
        return False

    # -- vocabularies ---------------------------------------------------
    def set_vocabulary(self, vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       source: str = EXPLICIT) -> None:
        """Set the ``'train'`` (seen) or ``'test'`` vocabulary.

        Args:
            vocabulary (str | Sequence[str]): Class names or a class-name
                file.
            mode (str): ``'train'`` or ``'test'``. Defaults to ``'test'``.
            source (str): ``'explicit'`` or ``'dataset'`` (see
                :mod:`pomp_mm.core.vocabulary`). Defaults to ``'explicit'``.
        """
        self.vocabularies.set(vocabulary, mode, source)

    def _use_vocabulary(self, mode: str) -> None:
        """The ``mode`` vocabulary (:mod:`pomp_mm.core.vocabulary`'s rule)
        into the text encoder; one tuple compare when it is already
        there."""
        names, key = self.vocabularies.resolve(mode, self._builtin)
        learner = self.text_encoder.prompt_learner
        if self._active != (key, learner.vocabulary_version):
            self.text_encoder.set_vocabulary(names)
            self._active = (key, learner.vocabulary_version)

    # -- inference --------------------------------------------------------
    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) L2-normalised dense CLIP features (no grad)."""
        with torch.no_grad():
            feats = clip_dense_features(self.clip.model.visual, inputs,
                                        self.dense_mode)
        return F.normalize(feats.float(), dim=1)

    def encode_decode(self, inputs: torch.Tensor,
                      batch_img_metas: List[dict]) -> torch.Tensor:
        """(B, N, H, W) class logits at the input resolution."""
        feats = self.extract_feat(inputs)
        text = self.text_encoder.class_features()
        logits = torch.einsum('bdhw,nd->bnhw', feats, text.to(feats))
        logits = self.clip.logit_scale.to(logits) * logits
        return resize(logits, size=inputs.shape[2:], mode='bilinear',
                      align_corners=self.align_corners)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Segment with the test vocabulary (see ``EncoderDecoder``)."""
        self._use_vocabulary('test')
        with torch.no_grad():
            return super().predict(inputs, data_samples)

    def _forward(self, inputs: torch.Tensor,
                 data_samples: Optional[SampleList] = None) -> torch.Tensor:
        """Raw (B, N, H, W) logits with the test vocabulary."""
        self._use_vocabulary('test')
        metas = [s.metainfo for s in data_samples] if data_samples else None
        return self.encode_decode(inputs, metas)

    # -- stage 1: masked-region classification -------------------------------
    def extract_regions(self, inputs: torch.Tensor,
                        data_samples: SampleList) -> tuple:
        """Masked, box-cropped, resized GT regions and their labels.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[SegDataSample]): With ``gt_sem_seg``.

        Returns:
            tuple[Tensor, Tensor]: (R, 3, h, w) regions at CLIP's input size
            (outside the mask = 0, i.e. the pixel mean) and (R,) labels.
        """
        cfg = self.region_cfg
        size = self.clip.image_size
        regions, labels = [], []
        for img, sample in zip(inputs, data_samples):
            gt = sample.gt_sem_seg.data.squeeze(0).to(img.device)
            classes, counts = torch.unique(gt, return_counts=True)
            keep = (classes != cfg['ignore_index']) & (counts >=
                                                       cfg['min_area'])
            classes, counts = classes[keep], counts[keep]
            order = counts.argsort(descending=True)[:cfg['max_regions']]
            chosen = classes[order]
            if len(chosen):  # every chosen class has pixels: all valid
                masks = gt[None] == chosen[:, None, None]
                regions.append(masked_crops(img, masks, size)[0])
                labels.extend(chosen.tolist())
        if not regions:
            return inputs.new_zeros((0, 3) + tuple(size)), torch.zeros(
                0, dtype=torch.long, device=inputs.device)
        return torch.cat(regions), torch.tensor(labels, device=inputs.device)

    def loss(self, inputs: torch.Tensor,
             data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """Cross-entropy of the GT regions over the seen vocabulary.

        Returns:
            dict[str, Tensor]: ``loss_region`` and ``acc_region`` (percent).
        """
        self._use_vocabulary('train')
        regions, labels = self.extract_regions(inputs, data_samples)
        text = self.text_encoder.class_features()
        if len(labels) == 0:  # no usable region: a zero loss keeps DDP happy
            zero = text.sum() * 0
            return dict(loss_region=zero, acc_region=zero.detach())
        if int(labels.max()) >= len(text):
            raise ValueError(
                f'label {int(labels.max())} is out of range for the training '
                f'vocabulary of {len(text)} classes; the training set\'s '
                'classes must be the train vocabulary')
        with torch.no_grad():
            feats = self.clip.encode_image(regions, normalize=True).float()
        logits = self.clip.logit_scale.to(feats) * feats @ text.t()
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(-1) == labels).float().mean() * 100
        return dict(loss_region=loss, acc_region=acc.detach())
