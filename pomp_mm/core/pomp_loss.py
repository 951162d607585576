"""The POMP objective: local contrast + local correction.

Full-softmax prompt tuning (CoOp) scores every image against all N class
prompts, which for N = 21K means pushing 21K prompts through the text tower
each step. POMP scores each image against its own class and a small random
subset of classes instead:

* **Local contrast.** Each step draws K-1 negative classes uniformly, without
  replacement, from all N classes (one draw shared by the batch). View ``i``
  with label ``y_i`` gets logits ``[s<f_i, t_{y_i}>, s<f_i, t_{S_1}>, ...]``:
  its positive always in column 0, ``s`` CLIP's frozen logit scale, ``f`` and
  ``t`` L2-normalised image and text features. A drawn negative equal to the
  view's own class is masked out (``-1e6``).
* **Local correction.** Sampling makes each negative appear with probability
  ``q_i = (M - R_i) / (N - 1)`` (``M`` negatives drawn, ``R_i`` = 1 if the own
  class was drawn). Adding ``-log q_i`` to every negative logit (a log-Q,
  sampled-softmax correction) turns the sampled loss into an estimate closer
  to the full softmax; it acts as a margin on negatives. The official code
  used the natural log at release time and ``log10`` later, so the base is a
  setting.
* The loss is cross-entropy with target column 0, averaged over views.

``num_classes_per_step = K``: ``K < N`` scores K classes per view (K-1 drawn
negatives + the positive), as the official code. ``K = N`` draws *every*
class as a negative (own class masked), which is exactly full-softmax CE, and
the correction is then zero.

Some settings have no defined loss, and are refused before any update
(:func:`check_k_and_n`) rather than training on NaN/Inf:

* N = 1: no class can be a negative (the correction would be
  ``log(N - 1) = log 0``, and without it the loss is a constant 0);
* K = 2 < N with the correction: the one drawn negative is the view's own
  class with probability 1/N, which leaves ``M - R_i = 0`` negatives and a
  correction of ``-log(0)`` (an infinite loss);
* K > N: fewer classes than asked for.
"""
import math
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS

MASK_VALUE = 1e6


class UndefinedLossError(ValueError):
    """A K / N setting for which the POMP loss is NaN, Inf or constant.

    Raised before any update (at the model's build or its first training
    step); ``tools/train.py`` prints it as one line.
    """


def check_k_and_n(num_classes_per_step: Optional[int], num_classes: int,
                  correction: bool = True) -> None:
    """Refuse a K / N pair whose POMP loss is undefined (NaN or Inf).

    Args:
        num_classes_per_step (int, optional): K; ``None`` is the full
            softmax (K = N).
        num_classes (int): N, the training vocabulary size (distinct
            names).
        correction (bool): Whether the local correction is applied.
            Defaults to True.

    Raises:
        UndefinedLossError: One line naming K, N and what is expected.
    """
    k = num_classes_per_step
    if num_classes < 2:
        why = 'the local correction is log(N-1) = log 0' if correction else \
            'the one logit left gives a loss of 0 and nothing trains'
        raise UndefinedLossError(
            f'num_classes_per_step={k} with a training vocabulary of N='
            f'{num_classes} distinct class name(s): no class is left to be a '
            f'negative ({why}); expected at least 2 distinct class names')
    if k is not None and k > num_classes:
        raise UndefinedLossError(
            f'num_classes_per_step={k} is larger than the vocabulary '
            f'({num_classes} classes); use at most {num_classes}, or '
            'None for the full softmax')
    if correction and k == 2 and num_classes > 2:
        raise UndefinedLossError(
            f'num_classes_per_step=2 with correction=True and N={num_classes}'
            ' classes: a view whose one drawn negative is its own class has '
            'no negative left and its correction -log(0) is infinite; '
            'expected num_classes_per_step >= 3, None (full softmax) or '
            'correction=False')


def log_base(x: torch.Tensor, base: Union[str, float]) -> torch.Tensor:
    """``log_base(x)``; ``base`` is ``'e'`` or a number such as 10."""
    if base == 'e':
        return torch.log(x)
    return torch.log(x) / math.log(float(base))


def pomp_logits(image_feats: torch.Tensor,
                pos_text: torch.Tensor,
                neg_text: torch.Tensor,
                labels: torch.Tensor,
                neg_classes: torch.Tensor,
                logit_scale: Union[float, torch.Tensor],
                num_classes: int,
                correction: bool = True,
                base: Union[str, float] = 'e') -> torch.Tensor:
    """Logits of local contrast (+ correction), positive in column 0.

    Args:
        image_feats (Tensor): (B, D) normalised image features.
        pos_text (Tensor): (B, D) normalised text feature of each view's
            own class.
        neg_text (Tensor): (M, D) normalised text features of the drawn
            negative classes.
        labels (Tensor): (B,) class of each view.
        neg_classes (Tensor): (M,) class index of each drawn negative.
        logit_scale (float | Tensor): CLIP's ``exp(logit_scale)``.
        num_classes (int): N, the vocabulary size.
        correction (bool): Add the local correction. Defaults to True.
        base (str | float): Log base of the correction. Defaults to ``'e'``.

    Returns:
        Tensor: (B, 1 + M) float32 logits.

    Raises:
        UndefinedLossError: With the correction, for N < 2 or fewer than
            2 drawn negatives (``log 0``, see :func:`check_k_and_n`).
    """
    if correction and (num_classes < 2 or len(neg_classes) < 2):
        raise UndefinedLossError(
            f'local correction with {len(neg_classes)} drawn negative(s) and '
            f'N={num_classes} classes is undefined (log 0 when a view\'s own '
            'class is the only one drawn, or N-1 = 0); expected N >= 2 and at'
            ' least 2 drawn negatives, or correction=False')
    f = image_feats.float()
    pos = logit_scale * (f * pos_text.float()).sum(-1, keepdim=True)
    neg = logit_scale * f @ neg_text.float().t()
    collide = (neg_classes[None, :] == labels[:, None]).float()
    neg = neg - MASK_VALUE * collide
    if correction:
        drawn = torch.tensor(float(len(neg_classes)), device=neg.device)
        valid = drawn - collide.sum(1, keepdim=True)  # M - R_i
        n_other = torch.tensor(float(num_classes - 1), device=neg.device)
        neg = neg + log_base(n_other, base) - log_base(valid, base)
    return torch.cat([pos, neg], dim=1)


@MODELS.register_module()
class PompLoss(nn.Module):
    """Draws the negatives and computes the POMP loss.

    The sampler has its own ``torch.Generator``, seeded with ``seed + rank``
    (each rank draws its own negatives, as the paper). Its state is part of
    the module's ``state_dict`` (``_extra_state``), so a resumed run draws
    the same negatives as an uninterrupted one; a multi-process checkpoint
    holds rank 0's, and :class:`~pomp_mm.core.hooks.RandomStateHook` gives
    every rank back its own.

    Args:
        num_classes_per_step (int, optional): K, classes scored per view
            (K-1 drawn negatives + the positive). ``None`` means the whole
            vocabulary (full softmax). Defaults to 1000.
        correction (bool): Apply local correction. Defaults to True.
        log_base (str | float): ``'e'`` (natural, the code at release time)
            or ``10`` (the official HEAD). Defaults to ``'e'``.
        seed (int, optional): Seed of the negative sampler; ``None`` derives
            it from torch's initial seed (set by MMEngine's ``randomness``)
            at the first draw. Defaults to None.
        loss_weight (float): Scale of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 num_classes_per_step: Optional[int] = 1000,
                 correction: bool = True,
                 log_base: Union[str, float] = 'e',
                 seed: Optional[int] = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        k = num_classes_per_step
        if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
            raise ValueError(f'num_classes_per_step={k!r}: expected an '
                             'integer >= 3, or None for the full softmax')
        if k is not None and k < 2:
            raise ValueError(f'num_classes_per_step={k}: expected >= 2 (the '
                             'positive + negatives)')
        if k == 2 and correction:
            raise UndefinedLossError(
                'num_classes_per_step=2 with correction=True: a view whose '
                'one drawn negative is its own class has no negative left '
                'and its correction -log(0) is infinite; expected '
                'num_classes_per_step >= 3, None (full softmax) or '
                'correction=False')
        if log_base != 'e' and not (isinstance(log_base, (int, float))
                                    and log_base > 1):
            raise ValueError(f"log_base={log_base!r}: expected 'e' or a "
                             'number > 1 such as 10')
        self.num_classes_per_step = num_classes_per_step
        self.correction = correction
        self.log_base = log_base
        self.seed = seed
        self.loss_weight = loss_weight
        self.generator = torch.Generator()
        self._seeded = False

    def _ensure_seeded(self) -> None:
        if not self._seeded:
            from mmengine.dist import get_rank
            seed = self.seed if self.seed is not None else \
                torch.initial_seed()
            # per-rank negatives, as the paper (each GPU draws its own)
            self.generator.manual_seed((seed + get_rank()) % 2**63)
            self._seeded = True

    def get_extra_state(self) -> torch.Tensor:
        # a tensor, not a dict: MMEngine broadcasts state_dict values as
        # tensors when it initialises a distributed run
        self._ensure_seeded()
        return self.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        if isinstance(state, dict):  # files written before this change
            state = state['generator']
        self.generator.set_state(state)
        self._seeded = True

    def check_num_classes(self, num_classes: int) -> None:
        """Refuse a vocabulary of N classes this K cannot train on.

        Called by :meth:`sample`, i.e. at the first step before any update;
        a model may call it as soon as it knows its training vocabulary.

        Args:
            num_classes (int): N, the training vocabulary size.

        Raises:
            UndefinedLossError: See :func:`check_k_and_n`.
        """
        check_k_and_n(self.num_classes_per_step, num_classes,
                      self.correction)

    def num_drawn(self, num_classes: int) -> int:
        """M, the negatives drawn per step for a vocabulary of N classes."""
        self.check_num_classes(num_classes)
        k = self.num_classes_per_step
        if k is None or k == num_classes:
            return num_classes
        return k - 1

    def sample(self, num_classes: int, device=None) -> torch.Tensor:
        """Draw this step's negatives: (M,) class ids, no repeats."""
        self._ensure_seeded()
        drawn = torch.randperm(num_classes, generator=self.generator)
        return drawn[:self.num_drawn(num_classes)].to(device)

    def forward(self, image_feats: torch.Tensor, pos_text: torch.Tensor,
                neg_text: torch.Tensor, labels: torch.Tensor,
                neg_classes: torch.Tensor,
                logit_scale: Union[float, torch.Tensor],
                num_classes: int) -> torch.Tensor:
        """The loss (a scalar); arguments as :func:`pomp_logits`."""
        logits = pomp_logits(image_feats, pos_text, neg_text, labels,
                             neg_classes, logit_scale, num_classes,
                             self.correction, self.log_base)
        target = torch.zeros(len(logits), dtype=torch.long,
                             device=logits.device)
        return self.loss_weight * F.cross_entropy(logits, target)

    def extra_repr(self) -> str:
        return (f'K={self.num_classes_per_step}, correction='
                f'{self.correction}, log_base={self.log_base!r}')
