"""CLIP + a learned prompt as an mmpretrain classifier.

One model serves prompt pre-training and zero-shot classification:

* ``mode='loss'``: the frozen image tower encodes the (multi-view) batch and
  the prompt is trained with the POMP objective over the *training*
  vocabulary (:class:`~pomp_mm.core.PompLoss`; with
  ``num_classes_per_step=None`` it is CoOp's full softmax).
* ``mode='predict'``: the prompt's text features for the *test* vocabulary,
  computed once in batches and cached, classify the images with CLIP's
  scaled cosine similarity; mmpretrain's ``Accuracy`` scores the result.

Vocabularies follow the one precedence rule of
:mod:`pomp_mm.core.vocabulary`: ``train_vocabulary`` / ``test_vocabulary``
in the config, else the datasets' classes
(:class:`~pomp_mm.core.VocabularyHook`), else the other phase's.
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from pomp_mm.core import FrozenCLIP, PompPromptLearner
from pomp_mm.core.clip import CLIP_MEAN, CLIP_STD
from pomp_mm.core.vocabulary import (  # noqa: F401 (dedup_names' old home)
    EXPLICIT, PhaseVocabularies, dedup_names, read_vocabulary)

from .feature_cache import batch_image_features

Vocabulary = Optional[Union[str, Sequence[str]]]


def read_names(vocabulary: Union[str, Sequence[str]]) -> List[str]:
    """Class names from a list or a file; names may repeat (ImageNet has
    two ``crane`` classes): :func:`~pomp_mm.core.vocabulary.read_vocabulary`
    with ``allow_duplicates=True``."""
    return read_vocabulary(vocabulary, allow_duplicates=True)


def train_targets(data_samples: List[DataSample], num_images: int,
                  class_map: Optional[torch.Tensor],
                  num_classes: int, device: torch.device) -> torch.Tensor:
    """Labels of a (multi-view) batch in the learner's distinct classes.

    The one "labels -> class map -> repeat per view" of the classifiers.

    Args:
        data_samples (list[DataSample]): The batch's samples (``gt_label``).
        num_images (int): Images in the batch; a multiple of the samples
            when views are stacked view-major.
        class_map (Tensor, optional): Index of each class into the distinct
            names (see :func:`~pomp_mm.core.vocabulary.dedup_names`), or
            None.
        num_classes (int): Size of the (distinct) training vocabulary.
        device (torch.device): Where the labels go.

    Returns:
        Tensor: (num_images,) long labels.
    """
    labels = torch.cat([s.gt_label for s in data_samples]).to(device)
    vocab_size = num_classes if class_map is None else len(class_map)
    bad = labels[(labels < 0) | (labels >= vocab_size)]
    if len(bad):
        raise ValueError(
            f'label {int(bad[0])} is out of range for the training '
            f'vocabulary of {vocab_size} classes')
    if class_map is not None:  # classes sharing a name share a prompt
        labels = class_map.to(device)[labels]
    return labels.repeat(num_images // len(labels))


class CLIPClassifierBase(BaseModel):
    """What every CLIP-based classifier of pomp_mm shares.

    Subclasses provide :attr:`clip` (a :class:`~pomp_mm.core.FrozenCLIP`) and
    :meth:`logits`; this base turns them into mmpretrain's ``'loss'`` /
    ``'predict'`` / ``'tensor'`` modes, checks the input size against CLIP's
    and writes ``pred_score`` / ``pred_label`` for ``Accuracy``.

    Args:
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``SelfSupDataPreprocessor`` with CLIP's mean/std (RGB), which
            also accepts the list of views a ``MultiView`` pipeline produces.
        init_cfg (dict, optional): Unused; CLIP is loaded from its own file
            at construction. Defaults to None.
    """

    CLIP_MEAN = list(CLIP_MEAN)
    CLIP_STD = list(CLIP_STD)

    def __init__(self,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='mmpretrain.SelfSupDataPreprocessor',
                                     mean=self.CLIP_MEAN,
                                     std=self.CLIP_STD,
                                     to_rgb=True)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        # (C, D) normalised class features; never saved, rebuilt on demand
        self.register_buffer('text_classifier', torch.zeros(0),
                             persistent=False)
        self._classifier_key = None

    def _cached_classifier(self, key: tuple,
                           compute: Callable[[], torch.Tensor]
                           ) -> torch.Tensor:
        """``text_classifier``, recomputed by ``compute()`` only when
        ``key`` (what the features depend on) changes."""
        if key != self._classifier_key:
            self.text_classifier = compute().float()
            self._classifier_key = key
        return self.text_classifier

    @property
    def clip(self) -> FrozenCLIP:
        raise NotImplementedError

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'loss'``, ``'predict'`` or ``'tensor'`` (logits)."""
        images = self._images(inputs)
        if mode == 'loss':
            return self.loss(images, data_samples)
        if mode == 'predict':
            return self.predict(images, data_samples)
        if mode == 'tensor':
            return self.logits(images)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def _images(self, inputs) -> torch.Tensor:
        """One (B*V, C, H, W) batch from a tensor or a list of V views."""
        return torch.cat(list(inputs)) if isinstance(inputs, (list, tuple)) \
            else inputs

    def extract_feat(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised image features from the frozen image tower."""
        with torch.no_grad():
            return self.clip.encode_image(images, normalize=True).float()

    def loss(self, images: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Training loss; classifiers without training refuse it."""
        raise RuntimeError(
            f'{type(self).__name__} is a zero-shot classifier and has nothing '
            'to train; use tools/test.py with this config')

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C) class logits."""
        raise NotImplementedError

    def predict(
            self,
            images: torch.Tensor,
            data_samples: Optional[List[DataSample]] = None
    ) -> List[DataSample]:
        """Predictions (softmax scores and argmax labels) of a batch."""
        with torch.no_grad():
            logits = self.logits(images)
        scores = logits.float().softmax(dim=-1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(images))]
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score).set_pred_label(score.argmax())
        return data_samples


@MODELS.register_module()
class PromptCLIPClassifier(CLIPClassifierBase):
    """Frozen CLIP image tower + prompt-learned text classifier.

    Args:
        prompt_learner (dict): Config of :class:`PompPromptLearner`,
            including its ``clip``.
        loss (dict): Config of the training objective. Defaults to
            ``dict(type='PompLoss')`` (K=1000, natural-log correction).
        train_vocabulary (str | Sequence[str], optional): Training class
            names or class-name file; else set by ``VocabularyHook``.
        test_vocabulary (str | Sequence[str], optional): Test class names
            or class-name file; else set by ``VocabularyHook``.
        text_batch_size (int): Classes per batch when the test vocabulary
            is encoded. Defaults to 256.
        merge_repeated_names (bool): Training classes that share a name
            (after cleaning) become one class: their labels merge, and
            negatives and the local correction run over the distinct
            names. False keeps all N classes as the official trainer does:
            classes that share a name share a prompt's text features, but
            each is drawn as a negative on its own, also against a view of
            its namesake, and N counts them all. Test vocabularies always
            share (the features, hence the predictions, are the same).
            Defaults to True.
        image_feature_cache (str, optional): A folder written by
            ``tools/cache_image_features.py``: training reads its image
            features instead of running the data pipeline and the image
            tower (needs ``ImageFeatureCacheHook`` in ``custom_hooks``,
            which checks the cache against the run; see
            :mod:`pomp_mm.cls.feature_cache`). Defaults to None.
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``SelfSupDataPreprocessor`` with CLIP's mean/std, which also
            accepts the list of views a ``MultiView`` pipeline produces.
        init_cfg (dict, optional): Unused; CLIP and the prompt are loaded
            from their own files at construction. Defaults to None.
    """

    def __init__(self,
                 prompt_learner: dict,
                 loss: dict = dict(type='PompLoss'),
                 train_vocabulary: Vocabulary = None,
                 test_vocabulary: Vocabulary = None,
                 text_batch_size: int = 256,
                 merge_repeated_names: bool = True,
                 image_feature_cache: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.prompt_learner: PompPromptLearner = MODELS.build(prompt_learner)
        self.loss_module = MODELS.build(loss)
        self.text_batch_size = text_batch_size
        self.merge_repeated_names = bool(merge_repeated_names)
        self.image_feature_cache = image_feature_cache
        self.vocabularies = PhaseVocabularies(type(self).__name__,
                                              reader=read_names)
        self._distinct: Dict[str, tuple] = {}  # mode -> dedup_names(...)
        self._active = None  # (choice key, learner version) in the learner
        for mode, vocab in (('train', train_vocabulary), ('test',
                                                          test_vocabulary)):
            if vocab is not None:
                self.set_vocabulary(vocab, mode)

    @property
    def clip(self) -> FrozenCLIP:
        return self.prompt_learner.clip

    # -- vocabularies -----------------------------------------------------------
    def set_vocabulary(self,
                       vocabulary: Union[str, Sequence[str]],
                       mode: str = 'test',
                       source: str = EXPLICIT) -> None:
        """Set the ``'train'`` or ``'test'`` vocabulary.

        Args:
            vocabulary (str | Sequence[str]): Class names or a class-name
                file. Names may repeat (CLIP's curated ImageNet names have
                two ``missile`` and two ``sunglasses`` classes): each
                distinct name is encoded once and shared by its classes.
            mode (str): ``'train'`` or ``'test'``. Defaults to ``'test'``.
            source (str): ``'explicit'`` (config, user) or ``'dataset'``
                (``VocabularyHook``, which never replaces an explicit one).
                Defaults to ``'explicit'``.
        """
        if not self.vocabularies.accepts(mode, source):
            return
        names = read_names(vocabulary)
        distinct = dedup_names(names)
        check = getattr(self.loss_module, 'check_num_classes', None)
        if mode == 'train' and check is not None:  # before any step
            check(len(distinct[0]) if self.merge_repeated_names else
                  len(names))
        self.vocabularies.store(names, mode, source)
        self._distinct[mode] = distinct

    def _use_vocabulary(self, mode: str) -> Optional[torch.Tensor]:
        """Put the ``mode`` vocabulary into the prompt learner.

        Returns:
            Tensor | None: For a vocabulary with repeated names, the index
            of each class into the learner's distinct names; else None.
        """
        _, key = self.vocabularies.resolve(mode)
        distinct, class_map = self._distinct[key[0]]
        learner = self.prompt_learner
        # one tuple compare per step, not the (up to 21K) names
        if self._active != (key, learner.vocabulary_version):
            learner.set_vocabulary(distinct)
            self._active = (key, learner.vocabulary_version)
        if class_map is None:
            return None
        return class_map.to(self.prompt_learner.token_ids.device)

    # -- forward ---------------------------------------------------------------
    def loss(self, images: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """The POMP loss of a batch (views stacked view-major)."""
        class_map = self._use_vocabulary('train')
        # merged: classes sharing a name become one class; else (official)
        # all N stay, and each is encoded through its name's prompt
        merge = class_map is not None and self.merge_repeated_names
        to_prompt = None if class_map is None or merge else \
            class_map.to(images.device)
        num_classes = self.prompt_learner.num_classes if to_prompt is None \
            else len(to_prompt)
        feats = batch_image_features(data_samples)  # from a feature cache
        if feats is None:
            if self.image_feature_cache:
                raise RuntimeError(
                    f'model.image_feature_cache={self.image_feature_cache} '
                    'is set but the training batches are images; expected '
                    "dict(type='ImageFeatureCacheHook') in custom_hooks")
            feats = self.extract_feat(images)
        feats = feats.to(images.device)
        labels = train_targets(data_samples, len(feats),
                               class_map if merge else None, num_classes,
                               images.device)
        negatives = self.loss_module.sample(num_classes, images.device)
        # each distinct class is encoded once, however many views use it
        classes, inverse = torch.unique(torch.cat([labels, negatives]),
                                        return_inverse=True)
        text = self.prompt_learner(
            classes if to_prompt is None else to_prompt[classes],
            normalize=True)
        pos, neg = text[inverse[:len(labels)]], text[inverse[len(labels):]]
        loss = self.loss_module(feats, pos, neg, labels, negatives,
                                self.clip.logit_scale, num_classes)
        return dict(loss=loss)

    def class_embeddings(self) -> torch.Tensor:
        """Normalised text features of the test vocabulary, cached.

        They are recomputed only when the vocabulary, the prompt (``ctx`` is
        updated in place, which bumps its version) or the device changes.
        """
        class_map = self._use_vocabulary('test')
        learner = self.prompt_learner
        ctx = learner.ctx
        key = (learner.vocabulary_version, ctx._version, ctx.data_ptr(),
               str(ctx.device),
               None if class_map is None else tuple(class_map.tolist()))

        def compute():
            feats = learner.encode_vocabulary(self.text_batch_size,
                                              normalize=True)
            return feats if class_map is None else feats[class_map]

        return self._cached_classifier(key, compute)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C) scaled cosine logits over the test vocabulary."""
        weights = self.class_embeddings()
        return self.clip.logit_scale * self.extract_feat(images) @ weights.t()
