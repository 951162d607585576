# Copyright (c) pomp_mm contributors. All rights reserved.
"""Hand-template CLIP zero-shot classification (the CLIP baseline).

The class weights are built as in CLIP's paper and open_clip's
``build_zero_shot_classifier`` (called through
:func:`pomp_mm.core.templates.template_features`): every template is
filled with every class name, each text feature is L2-normalised, the
features of one class are averaged over the templates and renormalised.
With one template this is the single-prompt baseline (e.g. CoOp's
``"a photo of a {}, a type of pet."``); with the 80 OpenAI ImageNet
templates it is CLIP's prompt ensemble.
"""
from typing import List, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from open_clip import zero_shot_metadata as zsm

from pomp_mm.core import FrozenCLIP
from pomp_mm.core.templates import template_features
from pomp_mm.core.vocabulary import EXPLICIT, PhaseVocabularies
from .model import CLIPClassifierBase, read_names


def _lambda_templates(fns) -> List[str]:
    """open_clip's lambda templates as ``'{}'`` format strings."""
    return [fn('{}') for fn in fns]


#: Named template sets usable as ``templates='<name>'`` in configs.
TEMPLATE_SETS = {
    'openai_imagenet': _lambda_templates(zsm.OPENAI_IMAGENET_TEMPLATES),
    'simple_imagenet': _lambda_templates(zsm.SIMPLE_IMAGENET_TEMPLATES),
    'a_photo_of_a': ['a photo of a {}.'],
}


def resolve_templates(templates: Union[str, Sequence[str]]) -> List[str]:
    """Template strings from a set name, one template or a list.

    Args:
        templates (str | Sequence[str]): A name of :data:`TEMPLATE_SETS`
            (``'openai_imagenet'``: CLIP's 80 ImageNet templates,
            ``'simple_imagenet'``: its 7-template subset,
            ``'a_photo_of_a'``), one template string with ``{}`` where the
            class name goes, or a list of such strings.

    Returns:
        list[str]: Format strings, each with exactly one ``{}``.
    """
    if isinstance(templates, str):
        if templates in TEMPLATE_SETS:
            return list(TEMPLATE_SETS[templates])
        templates = [templates]
    out = [str(t) for t in templates]
    if not out:
        raise ValueError('templates is empty; expected a template set name '
                         f'({", ".join(TEMPLATE_SETS)}) or strings with {{}}')
    for t in out:
        if t.count('{}') != 1 or t.replace('{}', '').count('{') or \
                t.replace('{}', '').count('}'):
            raise ValueError(
                f'template {t!r} is not a template set name '
                f'({", ".join(TEMPLATE_SETS)}) and does not hold exactly one '
                '"{}" (where the class name goes) and no other braces')
    return out


@MODELS.register_module()
class TemplateCLIPClassifier(CLIPClassifierBase):
    """Zero-shot CLIP with hand-written prompt templates.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        templates (str | Sequence[str]): See :func:`resolve_templates`.
            Defaults to ``'a photo of a {}.'``.
        vocabulary (str | Sequence[str], optional): Test class names or a
            class-name file; else set by ``VocabularyHook``.
            Defaults to None.
        text_batch_size (int): Classes per text-tower batch (each sends
            ``len(templates)`` texts). Defaults to 64.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: Union[dict, FrozenCLIP],
                 templates: Union[str, Sequence[str]] = 'a photo of a {}.',
                 vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 text_batch_size: int = 64,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self._clip = MODELS.build(clip) if isinstance(clip, dict) else clip
        self.templates = resolve_templates(templates)
        if text_batch_size < 1:
            raise ValueError(f'text_batch_size={text_batch_size}: expected '
                             '>= 1')
        self.text_batch_size = text_batch_size
        self.class_names: Optional[List[str]] = None
        self.vocabularies = PhaseVocabularies(
            type(self).__name__, reader=read_names,
            config_keys=dict(test='vocabulary'))
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    @property
    def clip(self) -> FrozenCLIP:
        return self._clip

    def set_vocabulary(self,
                       vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       source: str = EXPLICIT) -> None:
        """Set the class names (``mode='train'`` is accepted and ignored).

        Args:
            vocabulary (str | Sequence[str]): Names or a class-name file.
            mode (str): ``'test'`` or ``'train'``. Defaults to ``'test'``.
            source (str): ``'explicit'`` or ``'dataset'`` (see
                :mod:`pomp_mm.core.vocabulary`). Defaults to ``'explicit'``.
        """
        self.vocabularies.check_mode(mode)
        if mode == 'test' and self.vocabularies.accepts(mode, source):
            self.class_names = read_names(vocabulary)
            self.vocabularies.store(self.class_names, mode, source)

    def class_embeddings(self) -> torch.Tensor:
        """(C, D) template-ensembled, normalised class features, cached.

        Recomputed only when the vocabulary or the device changes.
        """
        if not self.class_names:
            raise RuntimeError(
                f'{type(self).__name__} has no vocabulary: add '
                "custom_hooks=[dict(type='VocabularyHook')] or set "
                'vocabulary in the model config')
        device = next(self.clip.parameters()).device
        key = (tuple(self.class_names), str(device))

        def compute():
            names = self.class_names
            weights = template_features(
                self.clip, names, self.templates, self.text_batch_size,
                device, progress=len(names) > self.text_batch_size)
            print_log(
                f'zero-shot classifier: {len(names)} classes x '
                f'{len(self.templates)} template(s)',
                logger='current')
            return weights

        return self._cached_classifier(key, compute)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C) scaled cosine logits over the vocabulary."""
        weights = self.class_embeddings()
        return self.clip.logit_scale * self.extract_feat(images) @ weights.t()
