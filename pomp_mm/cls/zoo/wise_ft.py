"""WiSE-FT (Wortsman et al., CVPR 2022, "Robust fine-tuning of zero-shot
models"): fine-tune end to end, then interpolate weights with zero-shot.

The image tower and a linear head initialised with CLIP's zero-shot text
classifier (``s * t_c``, hand template, CLIP's logit scale ``s``) are
fine-tuned with cross-entropy on the few-shot base classes, giving
``theta_ft``. Testing uses the weight-space ensemble::

    theta_alpha = (1 - alpha) * theta_zs + alpha * theta_ft
    logits      = normalize(visual_alpha(x)) . head_alpha^T

``alpha = 0`` is zero-shot CLIP, ``alpha = 1`` the fine-tuned model; the
paper's default mix is 0.5 (``--cfg-options model.alpha=...`` sweeps it at
test time, on one fine-tuned checkpoint).

How the tower becomes trainable without touching :class:`FrozenCLIP`: the
model holds a trainable *copy* of CLIP's image tower (``visual_ft``,
``copy.deepcopy`` of the same open_clip module, so no CLIP code is copied)
and keeps the frozen one as ``theta_zs``. The text tower stays frozen.
Checkpoints hold ``visual_ft`` and the head; ``theta_zs`` comes back from
the CLIP file. Mixing runs the tower through
:func:`torch.func.functional_call` with the interpolated tensors.

The head has rows for the training classes only. A test class that was not
trained (a novel class) keeps its zero-shot row in ``theta_ft`` too, so its
interpolated row is the zero-shot one: the method stays open-vocabulary.
"""
import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

from pomp_mm.core import FrozenCLIP
from pomp_mm.core.vocabulary import clean_classname

from .adapter_base import TemplateHeadClassifier, Vocabulary, resize_parameter

__all__ = ['WiSEFTClassifier']


@MODELS.register_module()
class WiSEFTClassifier(TemplateHeadClassifier):
    """End-to-end fine-tuned CLIP image tower, interpolated with zero-shot.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config); its image
            tower is ``theta_zs`` and the initialisation of ``visual_ft``.
        alpha (float): Mixing coefficient in [0, 1] used at test time
            (0: zero-shot, 1: fine-tuned). Defaults to 0.5.
        train_head (bool): Fine-tune the classification head (initialised
            with the zero-shot text classifier of the training classes)
            with the tower, as the paper does. False keeps the zero-shot
            text classifier as a fixed head. Defaults to True.
        templates (str | Sequence[str]): The hand template(s) of the
            zero-shot head. Defaults to ``'a photo of a {}.'``.
        vocabulary (str | Sequence[str], optional): Test class names; else
            set by ``VocabularyHook``. Defaults to None.
        train_vocabulary (str | Sequence[str], optional): Training class
            names; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower batch. Defaults to 64.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: dict | FrozenCLIP,
                 alpha: float = 0.5,
                 train_head: bool = True,
                 templates: str | Sequence[str] = 'a photo of a {}.',
                 vocabulary: Vocabulary = None,
                 train_vocabulary: Vocabulary = None,
                 text_batch_size: int = 64,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(clip=clip,
                         templates=templates,
                         vocabulary=None,
                         train_vocabulary=None,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.alpha = alpha
        self.train_head = train_head
        self.head_classes: list[str] = []
        if self.clip.model.visual is None:
            raise ValueError('WiSEFTClassifier needs the image tower; build '
                             'its FrozenCLIP without text_only')
        # theta_ft: a trainable fp32 copy of the (frozen) zero-shot tower
        self.visual_ft = copy.deepcopy(self.clip.model.visual).float()
        self.visual_ft.requires_grad_(True)
        # (C_train, D) head rows; empty until the training vocabulary is set
        self.head_ft = nn.Parameter(torch.zeros(
            0, self.clip.embed_dim)) if train_head else None
        self._mixed: tuple | None = None  # (key, interpolated tensors)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, 'test')
        if train_vocabulary is not None:
            self.set_vocabulary(train_vocabulary, 'train')

    @property
    def alpha(self) -> float:
        """The test-time mixing coefficient."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f'alpha={value}: expected a mixing coefficient '
                             'in [0, 1] (0: zero-shot, 1: fine-tuned)')
        self._alpha = float(value)

    # -- head --------------------------------------------------------------
    def set_vocabulary(self,
                       vocabulary: str | Sequence[str],
                       mode: str = 'test',
                       source: str = 'explicit') -> None:
        """Set the class names; a new training vocabulary (re)initialises
        the fine-tuned head with its zero-shot classifier (``source``: see
        :mod:`pomp_mm.core.vocabulary`)."""
        super().set_vocabulary(vocabulary, mode, source)
        if mode == 'train' and self.head_ft is not None and (
                not self.head_ft.numel()
                or self.head_classes != self.train_class_names):
            zero_shot = self.zero_shot_head('train')
            resize_parameter(self.head_ft, zero_shot.shape)
            with torch.no_grad():
                self.head_ft.copy_(zero_shot)
            self.head_classes = list(self.train_class_names)

    def zero_shot_head(self, mode: str = 'test') -> torch.Tensor:
        """(C, D) zero-shot head ``s * t_c`` of the ``mode`` classes."""
        return self.clip.logit_scale * self.class_embeddings(mode)

    def head(self, mode: str = 'test', alpha: float = 1.0) -> torch.Tensor:
        """(C, D) head of the ``mode`` classes mixed with weight ``alpha``.

        Rows of classes the head was not trained on are zero-shot rows.
        """
        zero_shot = self.zero_shot_head(mode)
        if self.head_ft is None or not self.head_ft.numel() or alpha == 0:
            return zero_shot
        where = {clean_classname(n): i for i, n in enumerate(
            self.head_classes)}
        rows = torch.tensor([where.get(clean_classname(n), -1)
                             for n in self.class_names_for(mode)],
                            device=zero_shot.device)
        tuned = torch.where((rows >= 0)[:, None],
                            self.head_ft[rows.clamp(min=0)], zero_shot)
        return tuned if alpha == 1 else torch.lerp(zero_shot, tuned, alpha)

    # -- image tower ---------------------------------------------------------
    def interpolate(self, alpha: float) -> dict[str, torch.Tensor]:
        """``(1 - alpha) * theta_zs + alpha * theta_ft`` of the image tower.

        Args:
            alpha (float): The mixing coefficient.

        Returns:
            dict[str, Tensor]: Tensors keyed as ``visual_ft.state_dict()``
            (integer buffers are taken from ``theta_ft``).
        """
        zero_shot = self.clip.model.visual.state_dict()
        tuned = self.visual_ft.state_dict()
        return {
            k: torch.lerp(zero_shot[k].to(v), v, alpha)
            if v.is_floating_point() else v
            for k, v in tuned.items()
        }

    def image_features(self, images: torch.Tensor,
                       alpha: float) -> torch.Tensor:
        """Normalised features of the tower mixed with weight ``alpha``."""
        if alpha == 0:
            with torch.no_grad():
                return self.clip.encode_image(images, normalize=True).float()
        if tuple(images.shape[-2:]) != self.clip.image_size:
            raise ValueError(
                f'input images are {tuple(images.shape[-2:])} but CLIP '
                f'{self.clip.model_name!r} expects {self.clip.image_size}; '
                'set the crop/resize size of the data pipeline to match')
        images = images.float()
        if alpha == 1:
            return F.normalize(self.visual_ft(images), dim=-1)
        key = (alpha, ) + tuple(p._version for p in self.visual_ft.parameters()
                                ) + tuple(p.data_ptr() for p in
                                          self.visual_ft.parameters())
        if self._mixed is None or self._mixed[0] != key:
            with torch.no_grad():
                self._mixed = (key, self.interpolate(alpha))
        feats = torch.func.functional_call(self.visual_ft, self._mixed[1],
                                           (images, ))
        return F.normalize(feats, dim=-1)

    def logits(self, images: torch.Tensor,
               mode: str = 'test') -> torch.Tensor:
        """(B, C) logits: the fine-tuned model for ``'train'``, the
        ``alpha`` weight-space ensemble for ``'test'``."""
        alpha = 1.0 if mode == 'train' else self.alpha
        if mode == 'train':
            self._mixed = None  # weights change: drop the mixed copy
        return self.image_features(images, alpha) @ self.head(mode, alpha).t()

    # -- state dict: the head's shape and class names -----------------------
    def get_extra_state(self) -> dict:
        return {'head_classes': list(self.head_classes)}

    def set_extra_state(self, state: dict) -> None:
        self.head_classes = list(state.get('head_classes', []))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        head = state_dict.get(prefix + 'head_ft')
        if head is not None and self.head_ft is not None:
            resize_parameter(self.head_ft, head.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
