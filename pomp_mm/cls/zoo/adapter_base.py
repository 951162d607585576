"""What the feature-adaptation and weight-space methods of the zoo share.

CLIP-Adapter, Tip-Adapter(-F) and WiSE-FT all classify with CLIP's
hand-template text classifier (:class:`~pomp_mm.cls.TemplateCLIPClassifier`:
``"a photo of a {}."``, normalised text features) and differ in what they
do to the image side. :class:`TemplateHeadClassifier` adds to the template
classifier what training needs:

* a *training* vocabulary next to the test one (``set_vocabulary(names,
  'train')``, called by :class:`~pomp_mm.core.VocabularyHook`), so a model
  trained on a target's base classes is tested on its novel classes;
* ``mode='loss'``: cross-entropy of :meth:`logits` over the training
  vocabulary.

Subclasses implement ``logits(images, mode)``.
"""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch import nn

from pomp_mm.core import FrozenCLIP
from pomp_mm.core.vocabulary import EXPLICIT

from ..model import read_names, train_targets
from ..zeroshot import TemplateCLIPClassifier

Vocabulary = str | Sequence[str] | None


def resize_parameter(param: nn.Parameter, shape: Sequence[int]) -> None:
    """Give a data-dependent parameter its shape, in place.

    The zoo's data-dependent parameters (Tip-Adapter's cache keys, WiSE-FT's
    classifier rows) start empty: the runner builds the optimizer before any
    hook has seen the data. Resizing keeps the parameter object, so the
    optimizer, which creates its state at the first step, trains it.

    Args:
        param (nn.Parameter): The parameter.
        shape (Sequence[int]): Its new shape (contents undefined).
    """
    if tuple(param.shape) != tuple(shape):
        param.data = param.data.new_empty(tuple(shape))


class TemplateHeadClassifier(TemplateCLIPClassifier):
    """Hand-template CLIP classifier with a training vocabulary and a loss.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        templates (str | Sequence[str]): See
            :func:`~pomp_mm.cls.resolve_templates`. Defaults to
            ``'a photo of a {}.'``.
        vocabulary (str | Sequence[str], optional): Test class names or a
            class-name file; else set by ``VocabularyHook``.
        train_vocabulary (str | Sequence[str], optional): Training class
            names; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower batch. Defaults to 64.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: dict | FrozenCLIP,
                 templates: str | Sequence[str] = 'a photo of a {}.',
                 vocabulary: Vocabulary = None,
                 train_vocabulary: Vocabulary = None,
                 text_batch_size: int = 64,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(clip=clip,
                         templates=templates,
                         vocabulary=vocabulary,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.train_class_names: list[str] | None = None
        self.vocabularies.config_keys['train'] = 'train_vocabulary'
        if train_vocabulary is not None:
            self.set_vocabulary(train_vocabulary, 'train')

    def set_vocabulary(self,
                       vocabulary: str | Sequence[str],
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

    def class_names_for(self, mode: str) -> list[str]:
        """The class names of ``mode`` (``'train'`` or ``'test'``).

        The precedence rule of :mod:`pomp_mm.core.vocabulary` (a model
        without a test vocabulary is tested on its training classes).
        """
        return self.vocabularies.resolve(mode)[0]

    def class_embeddings(self, mode: str = 'test') -> torch.Tensor:
        """(C, D) normalised hand-template features of the ``mode`` classes.

        One cache serves both vocabularies (it is rebuilt when the names
        change, i.e. when training hands over to validation and back).
        """
        names = self.class_names_for(mode)
        saved, self.class_names = self.class_names, names
        try:
            return super().class_embeddings()
        finally:
            self.class_names = saved

    def logits(self, images: torch.Tensor,
               mode: str = 'test') -> torch.Tensor:
        """(B, C) logits over the ``mode`` vocabulary."""
        raise NotImplementedError

    def loss(self, images: torch.Tensor,
             data_samples: list[DataSample]) -> dict[str, torch.Tensor]:
        """Cross-entropy of :meth:`logits` over the training vocabulary.

        Views of a ``MultiView`` batch (stacked view-major) share labels.
        """
        labels = train_targets(data_samples, len(images), None,
                               len(self.class_names_for('train')),
                               images.device)
        logits = self.logits(images, mode='train')
        return {'loss': F.cross_entropy(logits, labels)}
