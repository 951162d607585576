# Copyright (c) pomp_mm contributors. All rights reserved.
"""Caption text features for Detic's caption loss.

Detic (``CustomRCNN`` with ``WITH_CAPTION``) encodes one caption per
caption-labelled image, drawn at random from the image's captions, with a
frozen CLIP text tower, and scores each image's whole-image box against the
captions of the batch: its own caption is the positive, the others the
negatives. With ``SYNC_CAPTION_BATCH`` the captions of all processes are
gathered first, so the negatives are the captions of the global batch.
:func:`caption_features` and :func:`gather_caption_features` do those two
steps; the loss is :meth:`pomp_mm.det.PompBBoxHead.caption_loss`.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine import dist


def pick_captions(captions: Sequence[Sequence[str]]) -> List[str]:
    """One caption per image, drawn uniformly from its captions with
    torch's global generator (Detic's ``torch.randint`` per image).

    Args:
        captions (Sequence[Sequence[str]]): Per image, its captions.

    Returns:
        list[str]: The chosen caption of each image.
    """
    chosen = []
    for i, caps in enumerate(captions):
        if isinstance(caps, str) or not caps:
            raise ValueError(
                f'caption-labelled image {i} of the batch has captions='
                f'{caps!r}; expected a non-empty list of strings')
        chosen.append(caps[int(torch.randint(len(caps), (1, )))])
    return chosen


@torch.no_grad()
def caption_features(clip, captions: Sequence[str],
                     device: torch.device) -> torch.Tensor:
    """(N, D) L2-normalised CLIP text features of ``captions``.

    Args:
        clip (FrozenCLIP): The text tower (its tokenizer truncates to the
            context length, as CLIP's does).
        captions (Sequence[str]): The captions, raw text (Detic adds no
            prompt).
        device (torch.device): Where the features go.

    Returns:
        Tensor: float32 features on ``device``.
    """
    if not captions:
        return torch.zeros(0, clip.embed_dim, device=device)
    param = next(clip.parameters())
    tokens = clip.tokenizer(list(captions)).to(param.device)
    feats = clip.encode_text(tokens)
    return F.normalize(feats.float(), dim=-1).to(device)


def gather_caption_features(
        feats: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """The caption features of every process, and where this one's start.

    Every process must call it at every training step, with 0 rows when it
    has no caption-labelled image: it is a collective. Row counts may
    differ between processes (rows are padded for the gather and the
    padding dropped). In a single process it returns ``feats, 0``.

    Args:
        feats (Tensor): (n, D) this process's caption features.

    Returns:
        tuple[Tensor, int]: (sum n, D) features in rank order, and the
        index of this process's first row.
    """
    world = dist.get_world_size()
    if world == 1:
        return feats, 0
    count = torch.tensor([feats.shape[0]], device=feats.device)
    counts = [int(c) for c in dist.all_gather(count)]
    top = max(counts)
    if top == 0:
        return feats, 0
    padded = feats.new_zeros(top, feats.shape[1])
    padded[:feats.shape[0]] = feats
    rows = dist.all_gather(padded)
    gathered = torch.cat([r[:n] for r, n in zip(rows, counts)])
    return gathered, sum(counts[:dist.get_rank()])
