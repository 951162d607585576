# Copyright (c) pomp_mm contributors. All rights reserved.
"""Hand-template text features: the one template ensemble of pomp_mm.

CLIP's zero-shot classifier (Radford et al. 2021, and open_clip's
``build_zero_shot_classifier``, which :func:`template_features` calls): each
class name fills every template, each template's text feature is
L2-normalised, the features are averaged over the templates and the mean is
renormalised. Every hand-template route uses this function: the zero-shot
classifier (:mod:`pomp_mm.cls.zeroshot`), the zoo's KgCoOp anchor and
visual-prompting classifier (:mod:`pomp_mm.cls.zoo.prompt_common`) and
``tools/dump_text_features.py``.

One addition to open_clip: a name whose filled template does not fit CLIP's
context is an error naming the class, where open_clip's tokenizer would
silently cut it (a different class text, no warning).

``normalize=False`` with a single template gives the raw, un-normalised
``encode_text`` output, the format of the official POMP / Detic ``.npy``
classifier files (the consumer normalises the rows). With several templates
the result is always normalised: an un-normalised mean has no meaning of its
own.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from open_clip import build_zero_shot_classifier
from open_clip.tokenizer import SimpleTokenizer
from tqdm import tqdm

from .vocabulary import clean_classname


def check_template_lengths(clip, names: Sequence[str],
                           templates: Sequence[str]) -> None:
    """Refuse a (name, template) text longer than CLIP's context.

    Args:
        clip (FrozenCLIP): Its ``tokenizer`` and ``context_length``.
        names (Sequence[str]): Cleaned class names.
        templates (Sequence[str]): Format strings with one ``{}``.

    Raises:
        ValueError: One line naming the class, the template and the length.
    """
    tok = clip.tokenizer
    length = clip.context_length
    # open_clip's BPE: every token covers at least one character of the
    # cleaned, lower-cased text, and for ASCII that text is no longer than
    # the original, so an ASCII text of <= length - 2 characters fits
    # (SOT + EOT) without being tokenised; the class ensemble tokenises
    # every text anyway, so 21K names x 80 templates are not tokenised twice
    bpe = isinstance(tok, SimpleTokenizer)
    for template in templates:
        texts = [template.format(n) for n in names]
        rows = [i for i, t in enumerate(texts)
                if not (bpe and t.isascii() and len(t) <= length - 2)]
        if not rows:
            continue
        ids = tok([texts[i] for i in rows])
        # a text that fills the context up to its last token was cut
        for j in (ids[:, -1] != 0).nonzero().flatten().tolist():
            row = rows[j]
            n_tok = len(tok.encode(texts[row])) + 2  # + SOT, EOT
            if n_tok > length:
                raise ValueError(
                    f'class {names[row]!r} with template {template!r} is '
                    f'{n_tok} tokens, more than CLIP\'s {length}-token '
                    'context; shorten the name')


@torch.no_grad()
def template_features(clip,
                      names: Sequence[str],
                      templates: Sequence[str],
                      batch_size: int = 64,
                      device: Optional[torch.device] = None,
                      normalize: bool = True,
                      progress: bool = False) -> torch.Tensor:
    """(C, D) float32 hand-template features of class names.

    Args:
        clip (FrozenCLIP): The frozen CLIP (its ``model`` and
            ``tokenizer``).
        names (Sequence[str]): Class names, cleaned here with
            :func:`pomp_mm.core.vocabulary.clean_classname`.
        templates (Sequence[str]): Format strings with one ``{}``.
        batch_size (int): Classes per text-tower batch. Defaults to 64.
        device (torch.device, optional): Where the text tower runs.
            Defaults to the model's device.
        normalize (bool): Rows L2-normalised (CLIP's ensemble). ``False``
            needs exactly one template and gives the raw features.
            Defaults to True.
        progress (bool): A tqdm bar over the class batches. Defaults to
            False.

    Returns:
        Tensor: (C, D) float32 on ``device``.

    Raises:
        ValueError: No template, ``normalize=False`` with several
            templates, or a class text longer than CLIP's context.
    """
    templates = list(templates)
    if not templates:
        raise ValueError('template_features: no template')
    if not normalize and len(templates) > 1:
        raise ValueError(
            f'template_features: normalize=False needs one template, got '
            f'{len(templates)} (an ensemble is a mean of normalised '
            'features, normalised again)')
    device = device or clip.model.token_embedding.weight.device
    cleaned = [clean_classname(n) for n in names]
    check_template_lengths(clip, cleaned, templates)
    if not normalize:
        out = []
        template = templates[0]
        starts = range(0, len(cleaned), batch_size)
        for start in tqdm(starts, disable=not progress or len(starts) < 2):
            ids = clip.tokenizer([template.format(n) for n in
                                  cleaned[start:start + batch_size]])
            out.append(clip.model.encode_text(ids.to(device)).float())
        return torch.cat(out)
    weights = build_zero_shot_classifier(
        clip.model, clip.tokenizer, cleaned, templates,
        num_classes_per_batch=batch_size, device=device, use_tqdm=progress)
    return weights.t().float().contiguous()
