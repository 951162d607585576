# Copyright (c) pomp_mm contributors. All rights reserved.
"""ONNX export of a POMP prompt for deployment without PyTorch: the logic
of ``tools/export_onnx.py`` (a thin CLI over :func:`main`).

Two graphs (``--task``):

``cls-image``
    CLIP's image tower with the text classifier of a prompt + vocabulary
    baked in: ``pixels`` (B, 3, S, S) **uint8 RGB** (S = the CLIP's input
    size, 224 for ViT-B/16) -> ``logits`` (B, N) = ``logit_scale`` x cosine
    and ``scores`` (B, N) = their softmax, over the N class names in the
    order of the JSON sidecar's ``class_names``. CLIP's mean/std (on the
    0-255 scale, :data:`pomp_mm.core.clip.CLIP_MEAN` / ``CLIP_STD``) are
    applied *in* the graph. Sizing the picture is not: it is the cls
    pipeline's (``PompInferencer('cls')``): the shorter side resized to S
    with PIL's bicubic filter, long side ``int(S * long / short)``, then a
    centre crop of S x S at ``round((size - S) / 2)``;
    :func:`load_images` does exactly that with PIL + numpy.

``text``
    The prompted text tower: ``token_ids`` (N, 77) int64 -> ``features``
    (N, D) float32, L2-normalised, with the prompt's ``ctx`` baked in, so a
    new vocabulary needs no PyTorch. ``token_ids`` are what open_clip's
    tokenizer gives for each **name followed by the prompt's full stop**::

        ids = open_clip.get_tokenizer(MODEL)([f'{n.replace("_", " ").strip()}.'
                                              for n in names])

    i.e. ``[SOS] tokens(name + '.') [EOT] 0...`` (:func:`prompt_token_ids`
    builds the same ids from any CLIP BPE ``encode`` function, in plain
    Python + numpy). The graph puts ``ctx`` after ``[SOS]`` and shifts the
    rest by ``n_ctx``, which gives exactly the learner's prompt
    ``[SOS] ctx_1..ctx_M tokens(name.) [EOT]``
    (:class:`~pomp_mm.core.prompt.PompPromptLearner`, class token at the
    end, one shared ctx): CLIP's BPE never merges across a space, so
    ``tokens('X X X X ' + name + '.')`` is ``[X]*4 + tokens(name + '.')``.
    The full stop belongs to the name's tokens because BPE merges it with
    a name's last symbol (``'bat (animal).'`` ends with the one token
    ``').'``, not ``')'`` + ``'.'``; LVIS has hundreds of such names), so it
    cannot be appended inside the graph. The EOT is found as open_clip finds
    it (the largest id). A row that is not a valid prompt gives **NaN**
    features, never a plausible wrong vector: no ``[SOS]`` first, no EOT, a
    token before the EOT that does not end in ``'.'`` (the full stop was
    forgotten, or the tokenizer truncated the name), or a name too long for
    77 tokens with ``n_ctx`` more.

Exporter: ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript,
torch's default), which exports both graphs; the TorchScript exporter
(``dynamo=False``) is not used. Opset :data:`OPSET` (18: LayerNormalization
is a standard op since 17; onnxruntime 1.14+ runs it). The batch axis is
dynamic for both graphs (``batch``, ``num_names``); the 77 token positions
and the image size are fixed. One self-contained ``.onnx`` file is written
atomically (no external-data file: ViT-B/16's image tower is ~350 MB, well
under protobuf's 2 GB), with a JSON sidecar ``<out>.json``: the input/output
contract, the class names (cls-image), the CLIP (model name, file name,
weights fingerprint) and the prompt (file name, sha256, its ``meta``).

After the export, ``--verify`` (default on) runs the file with onnxruntime
on a few inputs and stops with one line (exit 1, the files are not kept)
when it differs from PyTorch: cls-image, random pixels at two batch sizes,
scores within :data:`SCORE_TOL` and logits within ``logit_scale *``
:data:`FEATURE_TOL` ``* 2`` of the PyTorch classifier and the same top-1
wherever PyTorch's top-2 margin exceeds that; text, the vocabulary's names
plus probe names of other token lengths, features within
:data:`FEATURE_TOL` of :meth:`PompPromptLearner.encode_vocabulary` (the
learner's own tokenization and its fast path), and NaN for a row without
its full stop. ``--benchmark`` times PyTorch and onnxruntime on the same
inputs in one run (same thread count, warm-up, median of ``--repeats``,
interleaved) and prints the ratio.

    python tools/export_onnx.py --task cls-image --model-name ViT-B-16 \\
        --clip-checkpoint ViT-B-16.pt --prompt POMP.pth.tar --texts coco \\
        --out pomp_coco.onnx
    python tools/export_onnx.py --task text --model-name ViT-B-16 \\
        --clip-checkpoint ViT-B-16.pt --prompt POMP.pth.tar --out text.onnx

``onnx`` / ``onnxruntime`` / ``onnxscript`` are imported inside the
functions that need them, so ``import pomp_mm.apis`` never needs them.
"""
import argparse
import hashlib
import json
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

import pomp_mm  # noqa: F401
from pomp_mm.core.checkpoint import (atomic_write, atomic_write_text,
                                     checkpoint_file_problem,
                                     load_prompt_file)
from pomp_mm.core.clip import CLIP_MEAN, CLIP_STD, FrozenCLIP
from pomp_mm.core.prompt import PompPromptLearner
from pomp_mm.core.vocabulary import clean_classname

PROG = 'export_onnx.py'
TASKS = ('cls-image', 'text')
#: The ONNX opset of both graphs.
OPSET = 18
#: Softmax scores of onnxruntime vs PyTorch (the issue's bound). For unit
#: features and logits ``z = s * cos``, ``|d softmax_i| <= max|dz| / 2``
#: and ``|dz| <= s * (|df_image| + |df_text|)``; at CLIP's largest
#: ``s = 100`` a feature error of :data:`FEATURE_TOL` gives ``1e-4``.
SCORE_TOL = 1e-4
#: Unit-norm text / image features, onnxruntime vs PyTorch (fp32, other
#: kernels and summation order): ~8 float32 ulps of 1.0. The text graph
#: runs all 77 positions where PyTorch runs the shared-prefix fast path,
#: itself exact to float rounding (:mod:`pomp_mm.core.fast_text`).
FEATURE_TOL = 1e-6
#: Names of other token lengths the text graph is verified on (none is a
#: mini-world or built-in class; one ends in ')' to test the '.' merge).
PROBE_NAMES = ('x', 'purple octagon with a small notch', 'bat (animal)',
               'a very long and rather unusual name of a thing that one '
               'would not expect to find in any vocabulary at all')
SIDECAR_FORMAT = 'pomp_mm-onnx/1'


class VerifyError(RuntimeError):
    """onnxruntime and PyTorch disagree on the exported file (one line)."""


# -- the graphs ---------------------------------------------------------------
class ImageClassifierGraph(nn.Module):
    """uint8 RGB pixels (B, 3, S, S) -> ``(logits, scores)`` (B, N).

    Args:
        clip (FrozenCLIP): The CLIP (its image tower is exported).
        class_features (Tensor): (N, D) L2-normalised text features of the
            vocabulary with the prompt.
        logit_scale (Tensor | float): CLIP's ``exp(logit_scale)``.
    """

    def __init__(self, clip: FrozenCLIP, class_features: torch.Tensor,
                 logit_scale) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer('mean', torch.tensor(CLIP_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(CLIP_STD).view(1, 3, 1, 1))
        self.register_buffer('classifier',
                             class_features.detach().float().clone())
        self.register_buffer('scale', torch.as_tensor(
            logit_scale, dtype=torch.float32).detach().clone().reshape(()))

    def forward(self, pixels: torch.Tensor) -> Tuple[torch.Tensor,
                                                     torch.Tensor]:
        x = (pixels.float() - self.mean) / self.std
        feats = self.clip.encode_image(x, normalize=True).float()
        logits = self.scale * feats @ self.classifier.t()
        return logits, logits.softmax(dim=-1)


def dot_ending_tokens(tokenizer) -> torch.Tensor:
    """(vocab,) bool: the BPE tokens that end a word with ``'.'`` (text
    ``'....</w>'``): the last token of every ``name.`` is one."""
    size = max(tokenizer.decoder) + 1
    table = torch.zeros(size, dtype=torch.bool)
    for i, text in tokenizer.decoder.items():
        table[i] = text.endswith('.</w>')
    return table


class PromptedTextGraph(nn.Module):
    """Token ids of ``name.`` (N, L) -> L2-normalised features (N, D), the
    prompt's ``ctx`` spliced in after ``[SOS]``; NaN rows for ids that are
    not a prompt (see the module docstring).

    Args:
        learner (PompPromptLearner): A learner with one shared ctx and the
            class token at the end (POMP's own setting).
    """

    def __init__(self, learner: PompPromptLearner) -> None:
        super().__init__()
        reason = text_export_problem(learner)
        if reason:
            raise ValueError(f'--task text: {reason}')
        clip = learner.clip
        tok = clip.tokenizer
        self.clip = clip
        self.n_ctx = int(learner.n_ctx)
        self.context_length = int(clip.context_length)
        self.sot, self.eot = int(tok.sot_token_id), int(tok.eot_token_id)
        m, length = self.n_ctx, self.context_length
        self.register_buffer('ctx', learner.ctx.detach().float().clone())
        # position p of the prompt reads cat([emb, ctx])[src[p]]
        src = torch.arange(length)
        src[1:1 + m] = length + torch.arange(m)
        src[1 + m:] = torch.arange(1, length - m)
        self.register_buffer('src', src)
        self.register_buffer('dot_end', dot_ending_tokens(tok))

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        n, length = token_ids.shape[0], self.context_length
        eot = token_ids.argmax(dim=-1)  # open_clip's rule: EOT is the max id
        emb = self.clip.token_embedding(token_ids)
        ctx = self.ctx.to(emb.dtype).unsqueeze(0).expand(n, -1, -1)
        prompt = torch.cat([emb, ctx], dim=1).index_select(1, self.src)
        pos = eot + self.n_ctx  # the EOT's place in the prompt
        feats = self.clip.encode_embeddings(
            prompt, pos.clamp(max=length - 1), normalize=True,
            truncate=False).float()
        rows = torch.arange(n, device=token_ids.device)
        before = token_ids[rows, (eot - 1).clamp(min=0)]
        ok = (pos <= length - 1) & (token_ids[:, 0] == self.sot) & \
            (token_ids[rows, eot] == self.eot) & (eot >= 2) & \
            self.dot_end[before.clamp(max=self.dot_end.shape[0] - 1)]
        return torch.where(ok.unsqueeze(-1), feats,
                           torch.full_like(feats, float('nan')))


def text_export_problem(learner: PompPromptLearner) -> str:
    """Why the text graph cannot represent ``learner`` ('' when it can)."""
    if learner.class_specific:
        return ('the prompt is class-specific (one ctx per class, CSC); the '
                'text graph needs one shared ctx')
    if learner.class_token_position != 'end':
        return (f'class_token_position={learner.class_token_position!r}; '
                "the text graph needs 'end' (POMP's)")
    if getattr(learner.clip.model, 'attn_mask', None) is None:
        return 'the CLIP text tower is not causal (no attn_mask)'
    return ''


# -- token ids without PyTorch -----------------------------------------------
def prompt_token_ids(names: Sequence[str],
                     encode: Callable[[str], List[int]],
                     n_ctx: int,
                     sot: int = 49406,
                     eot: int = 49407,
                     context_length: int = 77) -> np.ndarray:
    """The text graph's ``token_ids`` for ``names``, in Python + numpy.

    ``encode`` is any CLIP BPE encoder (``text -> ids``, no SOS/EOT), e.g.
    open_clip's ``SimpleTokenizer().encode``. Equal to
    ``open_clip.get_tokenizer(model)([clean(n) + '.' for n in names])``
    for names that fit; a name that does not fit with ``n_ctx`` context
    tokens is an error (open_clip's tokenizer would truncate it).

    Args:
        names (Sequence[str]): Class names (``_`` becomes a space, as the
            learner does).
        encode (callable): The BPE encoder.
        n_ctx (int): The prompt's context length (the sidecar's
            ``n_ctx``).
        sot, eot (int): CLIP's start / end token ids.
        context_length (int): CLIP's context length.

    Returns:
        np.ndarray: (N, context_length) int64.
    """
    out = np.zeros((len(names), context_length), dtype=np.int64)
    for i, name in enumerate(names):
        ids = [sot] + list(encode(clean_classname(name) + '.')) + [eot]
        if len(ids) + n_ctx > context_length:
            raise ValueError(
                f'class name {name!r} needs {len(ids) + n_ctx} tokens with '
                f'n_ctx={n_ctx}; expected at most {context_length}: shorten '
                'it')
        out[i, :len(ids)] = ids
    return out


# -- pixels without PyTorch ---------------------------------------------------
def load_images(images: Sequence, size: int) -> np.ndarray:
    """The ``cls-image`` graph's ``pixels`` for image files, PIL images or
    (H, W, 3) uint8 RGB arrays: the cls pipeline's sizing (shorter side to
    ``size``, PIL bicubic, long side ``int(size * long / short)``; centre
    crop at ``round((side - size) / 2)``), in PIL + numpy.

    Returns:
        np.ndarray: (B, 3, size, size) uint8 RGB.
    """
    from PIL import Image
    out = []
    for item in images:
        if isinstance(item, np.ndarray):
            img = Image.fromarray(item)
        elif isinstance(item, str):
            with Image.open(item) as f:
                img = f.convert('RGB')
        else:
            img = item.convert('RGB')
        w, h = img.size
        if w < h:
            new = (size, int(size * h / w))
        else:
            new = (int(size * w / h), size)
        img = img.resize(new, Image.BICUBIC)
        arr = np.asarray(img, dtype=np.uint8)
        y = max(0, int(round((arr.shape[0] - size) / 2.)))
        x = max(0, int(round((arr.shape[1] - size) / 2.)))
        arr = arr[y:y + size, x:x + size]
        out.append(arr.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out))


# -- building -----------------------------------------------------------------
def build_model(model_name: Optional[str] = None,
                clip_checkpoint: Optional[str] = None,
                prompt: Optional[str] = None,
                config: Optional[str] = None) -> Tuple[nn.Module, list]:
    """``(PompCLIP, preprocess steps)`` from a model name + CLIP file (the
    recipe :func:`pomp_mm.apis.create_model_and_transforms`) or a cls
    config (``PompInferencer('cls', model=config)``); the prompt goes in
    through :func:`pomp_mm.core.load_prompt` either way."""
    from .recipe import PompCLIP, create_model_and_transforms
    if config is None:
        model, _ = create_model_and_transforms(model_name, clip_checkpoint,
                                               prompt=prompt)
        size = int(model.clip.image_size[0])
        steps = [f"ResizeEdge(scale={size}, edge='short', backend='pillow', "
                 "interpolation='bicubic')",
                 f'CenterCrop(crop_size={size})']
        return model, steps
    from .inferencer import PompInferencer
    inferencer = PompInferencer('cls', model=config, model_name=model_name,
                                clip_checkpoint=clip_checkpoint,
                                prompt=prompt)
    learners = [m for m in inferencer.model.modules()
                if isinstance(m, PompPromptLearner)]
    steps = [repr(t) for t in inferencer.pipeline.transforms
             if type(t).__name__ != 'PackInputs']
    return PompCLIP(learners[0]).eval(), steps


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return 'sha256:' + digest.hexdigest()[:16]


def _to_onnx_bytes(module: nn.Module, example: torch.Tensor,
                   input_name: str, output_names: Sequence[str],
                   batch_axis: str, opset: int) -> bytes:
    """``torch.onnx.export(dynamo=True)`` of ``module`` into bytes (one
    self-contained model, dynamic first axis)."""
    import onnx
    dim = torch.export.Dim(batch_axis, min=1, max=1 << 20)
    program = torch.onnx.export(
        module, (example, ), None, dynamo=True, opset_version=opset,
        input_names=[input_name], output_names=list(output_names),
        dynamic_shapes=({0: dim}, ), external_data=False, verbose=False)
    proto = program.model_proto
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _session(data: bytes, threads: int = 1):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts,
                                providers=['CPUExecutionProvider'])


# -- verification -------------------------------------------------------------
def verify_classifier(session, module: ImageClassifierGraph,
                      pixels: Sequence[np.ndarray]) -> dict:
    """onnxruntime vs PyTorch on each batch of ``pixels``; raises
    :class:`VerifyError` (one line) beyond the tolerances."""
    scale = float(module.scale)
    logit_tol = 2 * scale * FEATURE_TOL
    worst = dict(scores=0.0, logits=0.0)
    checked = 0
    for batch in pixels:
        logits, scores = session.run(None, {'pixels': batch})
        with torch.no_grad():
            ref_logits, ref_scores = (t.numpy() for t in module(
                torch.from_numpy(batch)))
        ds = float(np.abs(scores - ref_scores).max())
        dz = float(np.abs(logits - ref_logits).max())
        worst['scores'] = max(worst['scores'], ds)
        worst['logits'] = max(worst['logits'], dz)
        if not (np.isfinite(scores).all() and ds <= SCORE_TOL and
                dz <= logit_tol):
            raise VerifyError(
                f'onnxruntime differs from PyTorch on a batch of '
                f'{len(batch)}: max |d score| {ds:.2e} (expected <= '
                f'{SCORE_TOL:g}), max |d logit| {dz:.2e} (expected <= '
                f'{logit_tol:.2e}); the ONNX file is not usable')
        top2 = np.sort(ref_logits, axis=1)[:, -2:] if ref_logits.shape[1] > 1 \
            else None
        for i in range(len(batch)):
            if top2 is not None and top2[i, 1] - top2[i, 0] <= 2 * logit_tol:
                continue  # a tie within rounding: either answer is right
            checked += 1
            if int(logits[i].argmax()) != int(ref_logits[i].argmax()):
                raise VerifyError(
                    f'onnxruntime top-1 {int(logits[i].argmax())} != '
                    f'PyTorch top-1 {int(ref_logits[i].argmax())} for image '
                    f'{i} of a batch of {len(batch)}; the ONNX file is not '
                    'usable')
    return dict(max_score_diff=worst['scores'],
                max_logit_diff=worst['logits'], top1_checked=checked)


def verify_text(session, learner: PompPromptLearner,
                names: Sequence[str]) -> dict:
    """onnxruntime features of ``names`` vs the learner's own
    (:meth:`PompPromptLearner.encode_vocabulary`); raises
    :class:`VerifyError` (one line) beyond :data:`FEATURE_TOL`."""
    names = list(dict.fromkeys(names))
    tok = learner.clip.tokenizer
    ids = prompt_token_ids(names, tok.encode, learner.n_ctx,
                           tok.sot_token_id, tok.eot_token_id,
                           learner.clip.context_length)
    got = session.run(None, {'token_ids': ids})[0]
    learner.set_vocabulary(names)
    ref = learner.encode_vocabulary(normalize=True, progress=False).float()
    diff = float(np.abs(got - ref.numpy()).max())
    if not np.isfinite(got).all() or diff > FEATURE_TOL:
        raise VerifyError(
            f'onnxruntime text features differ from PyTorch for {len(names)}'
            f' names: max |d| {diff:.2e} (expected <= {FEATURE_TOL:g}'
            f'{", NaN rows" if not np.isfinite(got).all() else ""}); the '
            'ONNX file is not usable')
    bad = ids[:1].copy()  # the same name without its full stop
    eot = int(bad[0].argmax())
    bad[0, eot - 1], bad[0, eot] = bad[0, eot], 0
    if np.isfinite(session.run(None, {'token_ids': bad})[0]).any():
        raise VerifyError('the text graph gave finite features for token ids '
                          "without the prompt's full stop; expected NaN")
    return dict(max_feature_diff=diff, names=len(names))


# -- benchmark ----------------------------------------------------------------
def benchmark(module: nn.Module, session, feed: Dict[str, np.ndarray],
              threads: int = 2, warmup: int = 3, repeats: int = 20) -> dict:
    """Median wall time (ms) of PyTorch eager and onnxruntime on the same
    input, with the same thread count, interleaved call by call so a busy
    machine slows both alike."""
    saved = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    inputs = [torch.from_numpy(v) for v in feed.values()]
    times = dict(torch=[], onnxruntime=[])
    try:
        with torch.no_grad():
            for i in range(warmup + repeats):
                t0 = time.perf_counter()
                module(*inputs)
                t1 = time.perf_counter()
                session.run(None, feed)
                t2 = time.perf_counter()
                if i >= warmup:
                    times['torch'].append(1e3 * (t1 - t0))
                    times['onnxruntime'].append(1e3 * (t2 - t1))
    finally:
        torch.set_num_threads(saved)
    out = {k: statistics.median(v) for k, v in times.items()}
    return dict(torch_ms=out['torch'], onnxruntime_ms=out['onnxruntime'],
                ratio=out['torch'] / out['onnxruntime'], threads=int(threads),
                warmup=warmup, repeats=repeats)


# -- the export ---------------------------------------------------------------
def export(task: str, model: nn.Module, out: str,
           names: Optional[Sequence[str]] = None,
           preprocess: Sequence[str] = (), prompt: Optional[str] = None,
           opset: int = OPSET, verify: bool = True,
           verify_pixels: Optional[Sequence[np.ndarray]] = None) -> dict:
    """Export ``model`` (a :class:`~pomp_mm.apis.PompCLIP`) as ``task``
    into ``out`` (+ ``out.json``), verified with onnxruntime.

    Returns:
        tuple: ``(sidecar, module, onnx_bytes)``: the sidecar dict
        (``'verify'`` holds the measured differences), the exported
        PyTorch module and the file's bytes.
    """
    learner = model.prompt_learner
    clip = learner.clip
    tok = clip.tokenizer
    if task == 'cls-image':
        if not names:
            raise ValueError('--task cls-image needs --texts (the class names '
                             'baked into the classifier)')
        names = list(names)
        class_features = model.encode_vocabulary(names)
        module = ImageClassifierGraph(clip, class_features,
                                      model.logit_scale).eval()
        size = int(clip.image_size[0])
        example = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
        data = _to_onnx_bytes(module, example, 'pixels', ('logits', 'scores'),
                              'batch', opset)
        contract = dict(
            inputs={'pixels': dict(
                shape=['batch', 3, size, size], dtype='uint8',
                layout='NCHW', colour='RGB', range='0..255',
                preprocess=list(preprocess),
                normalisation=dict(mean=list(CLIP_MEAN), std=list(CLIP_STD),
                                   where='in the graph'))},
            outputs={'logits': dict(shape=['batch', len(names)],
                                    dtype='float32',
                                    meaning='logit_scale * cosine'),
                     'scores': dict(shape=['batch', len(names)],
                                    dtype='float32',
                                    meaning='softmax of logits')},
            logit_scale=float(model.logit_scale), class_names=names)
    elif task == 'text':
        module = PromptedTextGraph(learner).eval()
        example = torch.from_numpy(prompt_token_ids(
            ['red heart', 'x'], tok.encode, learner.n_ctx, tok.sot_token_id,
            tok.eot_token_id, clip.context_length))
        data = _to_onnx_bytes(module, example, 'token_ids', ('features', ),
                              'num_names', opset)
        contract = dict(
            inputs={'token_ids': dict(
                shape=['num_names', int(clip.context_length)],
                dtype='int64',
                recipe="open_clip.get_tokenizer(clip_model)([name.replace("
                       "'_', ' ').strip() + '.' for name in names])",
                sot=int(tok.sot_token_id), eot=int(tok.eot_token_id),
                invalid_rows='NaN features')},
            outputs={'features': dict(shape=['num_names',
                                             int(clip.embed_dim)],
                                      dtype='float32',
                                      meaning='L2-normalised text features'
                                      )},
            logit_scale=float(model.logit_scale), n_ctx=int(learner.n_ctx),
            tokenizer=type(tok).__name__)
        if names:
            contract['class_names'] = list(names)
    else:
        raise ValueError(f'--task {task!r}: expected one of {TASKS}')

    report = {}
    if verify:
        session = _session(data)
        if task == 'cls-image':
            rng = np.random.default_rng(0)
            batches = list(verify_pixels or []) + [
                rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
                for n in (1, 3)]
            report = verify_classifier(session, module, batches)
        else:
            report = verify_text(session, learner,
                                 list(names or []) + list(PROBE_NAMES))
    meta = {}
    prompt_info = None
    if prompt is not None:
        ctx, meta = load_prompt_file(prompt)
        prompt_info = dict(file=osp.basename(prompt),
                           sha256=_file_sha256(prompt),
                           ctx_shape=list(ctx.shape), meta=meta)
    checkpoint = getattr(clip, 'checkpoint', None)
    sidecar = dict(
        format=SIDECAR_FORMAT, task=task, onnx_file=osp.basename(out),
        opset=int(opset), exporter='torch.onnx.export(dynamo=True)',
        torch=torch.__version__, **contract,
        clip=dict(model_name=clip.model_name,
                  file=osp.basename(checkpoint) if checkpoint else None,
                  fingerprint=clip.fingerprint),
        prompt=prompt_info if prompt_info else dict(
            file=None, template='a photo of a {}.'),
        pomp_mm_version=pomp_mm.__version__, verify=report)
    atomic_write(out, lambda f: f.write(data))
    atomic_write_text(out + '.json', json.dumps(sidecar, indent=1) + '\n')
    return sidecar, module, data


# -- the command line ---------------------------------------------------------
def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog,
                                description=__doc__.splitlines()[0])
    p.add_argument('--task', required=True, choices=TASKS)
    p.add_argument('--config', help='a pomp_mm classification config '
                   '(instead of --model-name)')
    p.add_argument('--model-name', help='open_clip model name of the CLIP '
                   'file (e.g. ViT-B-16)')
    p.add_argument('--clip-checkpoint', help='CLIP weights file')
    p.add_argument('--prompt', help='prompt file (official POMP or pomp_mm;'
                   ' none: the hand template "a photo of a {}.")')
    p.add_argument('--texts', help="class names 'a . b', a names file or a "
                   'built-in list (coco, lvis_v1, imagenet, ...): baked in '
                   'for cls-image; for text, also verified on')
    p.add_argument('--out', required=True, help='the .onnx file to write '
                   '(and OUT.json)')
    p.add_argument('--opset', type=int, default=OPSET)
    p.add_argument('--verify', action=argparse.BooleanOptionalAction,
                   default=True, help='check the file with onnxruntime '
                   'against PyTorch (default: on)')
    p.add_argument('--benchmark', action='store_true', help='time PyTorch '
                   'vs onnxruntime side by side')
    p.add_argument('--threads', type=int, default=2,
                   help='--benchmark: threads of both (default: 2)')
    p.add_argument('--batch', type=int, default=1,
                   help='--benchmark: images per call (cls-image; default: '
                   '1); text: the vocabulary (or the probe names)')
    p.add_argument('--repeats', type=int, default=20,
                   help='--benchmark: timed calls (default: 20)')
    return p


def check_args(args, parser) -> Optional[List[str]]:
    """Every bad input as one line (``parser.error``), before any work;
    returns the class names of ``--texts``."""
    from pomp_mm.utils.cli import CliError, check_output_file

    from .inferencer import read_texts
    for module in ('onnx', 'onnxruntime', 'onnxscript'):
        try:
            __import__(module)
        except ImportError:
            parser.error(f'{module} is not installed; expected the pinned '
                         'requirements (requirements/lock.txt)')
    if args.config is None and not args.model_name:
        parser.error('give --model-name (and --clip-checkpoint) or --config')
    for flag in ('config', 'clip_checkpoint', 'prompt'):
        path = getattr(args, flag)
        name = '--' + flag.replace('_', '-')
        if path is not None and not osp.isfile(path):
            parser.error(f'{name} {path}: file not found')
        if path is not None and flag != 'config':
            problem = checkpoint_file_problem(path)
            if problem:
                parser.error(f'{name}: {problem}')
    if not args.out.endswith('.onnx'):
        parser.error(f'--out {args.out!r}: expected a file name ending in '
                     '.onnx')
    try:
        check_output_file(args.out)
    except CliError as e:
        parser.error(str(e))
    for flag in ('threads', 'batch', 'repeats'):
        if getattr(args, flag) < 1:
            parser.error(f'--{flag} {getattr(args, flag)}: expected >= 1')
    if args.opset < 18:
        parser.error(f'--opset {args.opset}: expected >= 18 (the dynamo '
                     'exporter)')
    if args.task == 'cls-image' and not args.texts:
        parser.error('--task cls-image needs --texts (the class names baked '
                     'into the classifier)')
    if not args.texts:
        return None
    try:
        return read_texts(args.texts)
    except (ValueError, FileNotFoundError) as e:
        parser.error(f'--texts: {e}')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the CLI; returns the sidecar dict (and, under ``'benchmark'``,
    the timings)."""
    from pomp_mm.core.checkpoint import WriteError
    from pomp_mm.core.clip import RandomCLIPError
    parser = build_parser()
    args = parser.parse_args(argv)
    names = check_args(args, parser)
    try:
        model, steps = build_model(args.model_name, args.clip_checkpoint,
                                   args.prompt, args.config)
        if args.task == 'text':
            reason = text_export_problem(model.prompt_learner)
            if reason:
                raise ValueError(f'--task text: {reason}')
        if names:  # a name too long for the context: one line, no export
            model.prompt_learner.set_vocabulary(names)
        t0 = time.perf_counter()
        sidecar, module, data = export(args.task, model, args.out, names=names,
                         preprocess=steps, prompt=args.prompt,
                         opset=args.opset, verify=args.verify)
        seconds = time.perf_counter() - t0
    except VerifyError as e:
        sys.exit(f'{PROG}: verify failed: {e}')
    except (ValueError, FileNotFoundError, WriteError, RandomCLIPError) as e:
        sys.exit(f'{PROG}: error: {e}')
    size_mb = len(data) / 2**20
    print(f'{args.out}: {args.task}, {size_mb:.1f} MB, opset {args.opset}, '
          f'exported in {seconds:.1f} s; sidecar {args.out}.json')
    if sidecar['verify']:
        print('verified with onnxruntime: ' + ', '.join(
            f'{k} {v:.2e}' if isinstance(v, float) else f'{k} {v}'
            for k, v in sidecar['verify'].items()))
    if args.benchmark:
        if args.task == 'cls-image':
            size = int(model.clip.image_size[0])
            feed = {'pixels': np.random.default_rng(1).integers(
                0, 256, (args.batch, 3, size, size), dtype=np.uint8)}
            what = f'batch {args.batch} image(s) of {size} px'
        else:
            tok = model.clip.tokenizer
            text = list(names or PROBE_NAMES)
            feed = {'token_ids': prompt_token_ids(
                text, tok.encode, model.prompt_learner.n_ctx,
                tok.sot_token_id, tok.eot_token_id, model.clip.context_length)}
            what = f'{len(text)} name(s)'
        timing = benchmark(module, _session(data, args.threads), feed,
                           threads=args.threads, repeats=args.repeats)
        print(f'benchmark ({args.task}, {model.clip.model_name}, {what}, '
              f'{args.threads} thread(s), median of {args.repeats} after '
              f'{timing["warmup"]} warm-up): PyTorch '
              f'{timing["torch_ms"]:.2f} ms, onnxruntime '
              f'{timing["onnxruntime_ms"]:.2f} ms, ratio PyTorch/onnxruntime '
              f'{timing["ratio"]:.2f}')
        sidecar['benchmark'] = timing
    return sidecar
