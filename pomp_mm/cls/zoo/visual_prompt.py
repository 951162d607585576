"""Visual prompting (VP): a learned perturbation of the input pixels.

Bahng et al., "Exploring Visual Prompts for Adapting Large-Scale Models",
2022. A learnable frame of width ``p`` pixels (the *padding* prompt) is
added to every normalised input image; CLIP stays frozen and classifies the
perturbed image against hand-template text features
(``"a photo of a {}."``). Only the ``2 · 3 · p · (H + W - 2p)`` frame values
train. The paper pads 30 pixels of a 224 image; for the 64-pixel mini CLIP
the zoo config uses 8 (the same share of the image).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from pomp_mm.cls.model import Vocabulary, read_names
from pomp_mm.core.vocabulary import EXPLICIT
from pomp_mm.cls.zeroshot import TemplateCLIPClassifier
from pomp_mm.core import FrozenCLIP
from .prompt_common import TemplateFeatureCache, train_targets

__all__ = ['PadPrompter', 'VisualPromptClassifier']


class PadPrompter(nn.Module):
    """A learnable border of ``pad_size`` pixels added to images.

    The four strips are separate parameters, as in the official code: top
    and bottom span the full width, left and right the rows in between.
    The interior of the image is never changed.

    Args:
        image_size (tuple[int, int]): (H, W) of the images.
        pad_size (int): Border width p in pixels, ``0 < 2p < min(H, W)``.
        init_std (float): Std of the normal init; the official code draws
            ``torch.randn`` (std 1, on normalised pixels). Defaults to 1.0.
    """

    def __init__(self,
                 image_size: Tuple[int, int],
                 pad_size: int,
                 init_std: float = 1.0) -> None:
        super().__init__()
        height, width = image_size
        if not 0 < 2 * pad_size < min(height, width):
            raise ValueError(
                f'pad_size={pad_size}: expected 0 < 2 * pad_size < '
                f'{min(height, width)} for {height}x{width} images')
        self.pad_size = pad_size
        self.image_size = (height, width)
        inner = height - 2 * pad_size

        def strip(h: int, w: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(1, 3, h, w) * init_std)

        self.pad_up = strip(pad_size, width)
        self.pad_down = strip(pad_size, width)
        self.pad_left = strip(inner, pad_size)
        self.pad_right = strip(inner, pad_size)

    def perturbation(self) -> torch.Tensor:
        """The (1, 3, H, W) additive prompt, zero inside the border."""
        p, (height, width) = self.pad_size, self.image_size
        base = self.pad_up.new_zeros(1, 3, height - 2 * p, width - 2 * p)
        middle = torch.cat([self.pad_left, base, self.pad_right], dim=3)
        return torch.cat([self.pad_up, middle, self.pad_down], dim=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images + perturbation`` for a (B, 3, H, W) batch."""
        return images + self.perturbation().to(images.dtype)

    def extra_repr(self) -> str:
        return f'image_size={self.image_size}, pad_size={self.pad_size}'


@MODELS.register_module()
class VisualPromptClassifier(TemplateCLIPClassifier):
    """Frozen CLIP with a learned padding prompt on its input (VP).

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        pad_size (int): Border width in pixels at CLIP's input size.
            Defaults to 30 (the paper's, at 224 pixels).
        init_std (float): Std of the prompt's normal init. Defaults to 1.0
            (the official ``torch.randn``).
        templates (str | Sequence[str]): Hand prompt(s) of the text
            classifier (see
            :func:`~pomp_mm.cls.zeroshot.resolve_templates`).
            Defaults to ``'a photo of a {}.'``.
        loss (dict, optional): Loss on the (B, C) logits over the training
            vocabulary. None is mmpretrain's ``CrossEntropyLoss``.
            Defaults to None.
        train_vocabulary (str | Sequence[str], optional): Training class
            names or file; else set by ``VocabularyHook``. Defaults to None.
        test_vocabulary (str | Sequence[str], optional): Test class names
            or file; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower batch. Defaults to 64.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: Union[dict, FrozenCLIP],
                 pad_size: int = 30,
                 init_std: float = 1.0,
                 templates: Union[str, Sequence[str]] = 'a photo of a {}.',
                 loss: Optional[dict] = None,
                 train_vocabulary: Vocabulary = None,
                 test_vocabulary: Vocabulary = None,
                 text_batch_size: int = 64,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        self.train_class_names: Optional[List[str]] = None
        super().__init__(clip, templates=templates,
                         vocabulary=test_vocabulary,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.vocabularies.config_keys['test'] = 'test_vocabulary'
        self.prompter = PadPrompter(self.clip.image_size, pad_size, init_std)
        self.loss_module = MODELS.build(loss or dict(type='CrossEntropyLoss'))
        self.train_features = TemplateFeatureCache(self.templates,
                                                   text_batch_size)
        if train_vocabulary is not None:
            self.set_vocabulary(train_vocabulary, 'train')

    def set_vocabulary(self,
                       vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       source: str = EXPLICIT) -> None:
        """Set the ``'train'`` or ``'test'`` class names.

        Args:
            vocabulary (str | Sequence[str]): Names or a class-name file.
            mode (str): ``'train'`` or ``'test'``. Defaults to ``'test'``.
            source (str): ``'explicit'`` or ``'dataset'`` (see
                :mod:`pomp_mm.core.vocabulary`). Defaults to ``'explicit'``.
        """
        if mode == 'train':
            if self.vocabularies.accepts(mode, source):
                self.train_class_names = read_names(vocabulary)
                self.vocabularies.store(self.train_class_names, mode,
                                        source)
        else:
            super().set_vocabulary(vocabulary, mode, source)

    def extract_feat(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised features of the prompted images (grads reach the
        prompt; CLIP is frozen)."""
        return self.clip.encode_image(self.prompter(images),
                                      normalize=True).float()

    def loss(self, images: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Cross-entropy over the training vocabulary."""
        names = self.vocabularies.resolve('train')[0]
        labels = train_targets(data_samples, len(images), None, len(names),
                               images.device)
        text = self.train_features(self.clip, names)
        logits = self.clip.logit_scale * self.extract_feat(images) @ text.t()
        return dict(loss=self.loss_module(logits, labels))
