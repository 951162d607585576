"""The POMP/CoOp prompt learner: learned context vectors + class names.

Each class ``c`` of the vocabulary is turned into the text
``"X X ... X {name}."`` (``n_ctx`` placeholders, ``name`` with ``_`` replaced
by spaces), tokenized with CLIP's BPE tokenizer into
``[SOS] [X]*n_ctx [name tokens] [.] [EOT] [pad...]``. The placeholder
embeddings are then replaced by the learned ``ctx`` vectors and the sequence
goes through CLIP's frozen text tower; the EOT output is the class's text
feature. This is exactly the official POMP (and CoOp) construction.

The vocabulary is kept as token ids (N x 77 integers) and embedded only for
the classes a step uses, so a 21K-class vocabulary costs 13 MB, not the
gigabyte of prefix/suffix embedding buffers the official code keeps.
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.registry import MODELS
from mmengine.utils import ProgressBar

from .checkpoint import CheckpointMismatchError, load_prompt_file
from .clip import FrozenCLIP
from .fast_text import encode_shared_prefix, supports_shared_prefix
from .utils import check_finite_ctx, unwrap_model
from .vocabulary import clean_classname, read_vocabulary  # noqa: F401

POSITIONS = ('end', 'middle', 'front')


@MODELS.register_module()
class PompPromptLearner(nn.Module):
    """Learned prompt context over a frozen CLIP text tower.

    Args:
        clip (FrozenCLIP | dict): The frozen CLIP (or its config).
        vocabulary (str | Sequence[str], optional): Class names or a class-name
            file. Can be set later with :meth:`set_vocabulary`.
            Defaults to None.
        n_ctx (int, optional): Number of context vectors. ``None`` takes it
            from ``ctx_init`` or ``prompt_checkpoint``, else 16.
            Defaults to None.
        ctx_init (str, optional): Initialise ``ctx`` from the token
            embeddings of these words (e.g. ``'a photo of a'``); ``n_ctx``
            becomes their BPE token count. ``None`` draws ``ctx`` from
            N(0, ``ctx_std``). Defaults to None.
        ctx_std (float): Std of the random init. Defaults to 0.02.
        class_token_position (str): ``'end'`` (POMP), ``'middle'`` or
            ``'front'``. Defaults to ``'end'``.
        class_specific (bool): One ``ctx`` per class (CoOp's CSC), shape
            (N, n_ctx, width); needs the vocabulary at construction.
            Defaults to False.
        prompt_checkpoint (str, optional): Load ``ctx`` from a prompt file
            (see :func:`load_prompt_ctx`). Defaults to None.
        freeze (bool): Freeze ``ctx`` (zero-shot use). Defaults to False.
        fast_text (bool): Encode prompts with the exact shared-prefix path
            (:mod:`~pomp_mm.core.fast_text`) whenever it applies: class
            token at the end, one shared ``ctx``, a standard causal text
            tower. False always runs the plain path. Defaults to True.
        check_clip_model (bool): Check a prompt file's ``meta`` against
            this learner (see :meth:`check_meta`): the CLIP model name
            (same width, e.g. ViT-B-32 vs ViT-B-16, would load silently),
            the fingerprint of the CLIP weights and the class-token
            position must match. False skips these checks (the ctx shape
            is always checked). Defaults to True.
    """

    def __init__(self,
                 clip: Union[FrozenCLIP, dict],
                 vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 n_ctx: Optional[int] = None,
                 ctx_init: Optional[str] = None,
                 ctx_std: float = 0.02,
                 class_token_position: str = 'end',
                 class_specific: bool = False,
                 prompt_checkpoint: Optional[str] = None,
                 freeze: bool = False,
                 fast_text: bool = True,
                 check_clip_model: bool = True) -> None:
        super().__init__()
        if n_ctx is not None and (isinstance(n_ctx, bool) or
                                  not isinstance(n_ctx, int) or n_ctx < 1):
            raise ValueError(f'PompPromptLearner: n_ctx={n_ctx!r}; expected '
                             'an int >= 1, or None to take it from ctx_init '
                             'or prompt_checkpoint')
        self.fast_text = fast_text
        self.check_clip_model = check_clip_model
        self.clip = MODELS.build(clip) if isinstance(clip, dict) else clip
        if class_token_position not in POSITIONS:
            raise ValueError(f'class_token_position={class_token_position!r}'
                             f': expected one of {POSITIONS}')
        self.class_token_position = class_token_position
        self.class_specific = class_specific
        tokenizer = self.clip.tokenizer
        width, dtype = self.clip.text_width, self.clip.text_dtype

        loaded = None
        if prompt_checkpoint is not None:
            loaded, meta = load_prompt_file(prompt_checkpoint, width=width,
                                            dtype=dtype)
            self._check_meta(prompt_checkpoint, meta)
            file_n_ctx = loaded.shape[-2]
            if n_ctx is not None and n_ctx != file_n_ctx:
                raise ValueError(
                    f'prompt {prompt_checkpoint!r} has n_ctx={file_n_ctx} '
                    f'but the config sets n_ctx={n_ctx}; set n_ctx='
                    f'{file_n_ctx} (or None to take it from the file)')
            if (loaded.dim() == 3) != class_specific:
                raise ValueError(
                    f'prompt {prompt_checkpoint!r} has ctx of shape '
                    f'{tuple(loaded.shape)} but class_specific='
                    f'{class_specific}')
            n_ctx = file_n_ctx
            ctx_init = None

        if ctx_init:
            ctx_init = ctx_init.replace('_', ' ').strip()
            ids = torch.tensor(tokenizer.encode(ctx_init))
            if n_ctx is not None and n_ctx != len(ids):
                raise ValueError(
                    f'ctx_init={ctx_init!r} is {len(ids)} BPE tokens but '
                    f'n_ctx={n_ctx}; leave n_ctx=None to use {len(ids)}')
            n_ctx = len(ids)
            with torch.no_grad():
                init = self.clip.token_embedding(ids).to(dtype).clone()
            self.prompt_prefix = ctx_init
        else:
            n_ctx = 16 if n_ctx is None else n_ctx
            if n_ctx < 1:
                raise ValueError(f'n_ctx={n_ctx}: expected >= 1')
            init = None
            self.prompt_prefix = ' '.join(['X'] * n_ctx)
        self.n_ctx = n_ctx

        self.class_names: List[str] = []
        self.register_buffer('token_ids', torch.zeros(0, 0, dtype=torch.long),
                             persistent=False)
        self.register_buffer('eot_idx', torch.zeros(0, dtype=torch.long),
                             persistent=False)
        self.register_buffer('name_lens', torch.zeros(0, dtype=torch.long),
                             persistent=False)
        self.vocabulary_version = 0
        self._tokenized = {}  # names -> (token_ids, eot_idx, name_lens)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        elif class_specific:
            raise ValueError('class_specific=True needs the vocabulary at '
                             'construction (one ctx per class)')

        shape = (len(self.class_names), n_ctx, width) if class_specific \
            else (n_ctx, width)
        if loaded is not None:
            if tuple(loaded.shape) != shape:
                raise ValueError(
                    f'prompt {prompt_checkpoint!r} has ctx of shape '
                    f'{tuple(loaded.shape)}, expected {shape}')
            ctx = loaded.clone()
        elif init is not None:
            ctx = init.expand(shape).clone()
        else:
            ctx = torch.empty(shape, dtype=dtype)
            nn.init.normal_(ctx, std=ctx_std)
        self.ctx = nn.Parameter(ctx, requires_grad=not freeze)
        #: where ctx came from: a prompt file, 'ctx_init' or 'random'
        self.ctx_source = prompt_checkpoint if loaded is not None else (
            'ctx_init' if init is not None else 'random')
        self._state_prefix = ''
        self._register_state_dict_hook(PompPromptLearner._drop_frozen_ctx)
        self.register_load_state_dict_post_hook(
            PompPromptLearner._forgive_missing_ctx)
        if loaded is not None:
            print_log(f'PompPromptLearner: prompt ctx {tuple(ctx.shape)} '
                      f'loaded from {prompt_checkpoint}', logger='current')

    def _check_meta(self, path: str, meta: dict) -> None:
        self.check_meta(meta, path)

    def check_meta(self, meta: dict, source: str) -> None:
        """Refuse a prompt whose file ``meta`` says it does not fit here.

        Checked (each only when the file records it; official files and
        old pomp_mm files without ``meta`` pass): ``clip_model`` (the
        open_clip name), ``clip_fingerprint`` (the weights, see
        :func:`~pomp_mm.core.clip.weights_fingerprint`: another training
        or init of the same architecture is a real mistake, e.g. a prompt
        of another world's tiny CLIP) and ``class_token_position``.
        ``n_ctx`` is adopted from the file by design; ``class_specific``
        and the text width follow from the ctx shape, checked always.
        ``check_clip_model=False`` skips these checks.

        Raises:
            ValueError: One line naming the file's value and this
            learner's.
        """
        if not self.check_clip_model or not meta:
            return
        flag = '(check_clip_model=False overrides)'
        trained = meta.get('clip_model')
        own = getattr(self.clip, 'model_name', None)
        if trained and own and trained != own:
            raise ValueError(
                f'prompt {source!r} was trained for CLIP {trained!r} (its '
                f"meta.clip_model) but goes into CLIP {own!r}; use a prompt "
                f'trained for this CLIP model {flag}')
        trained = meta.get('clip_fingerprint')
        own = getattr(self.clip, 'fingerprint', None)
        if trained and own and trained != own:
            raise ValueError(
                f'prompt {source!r} was trained on CLIP weights {trained} '
                f'(its meta.clip_fingerprint, file '
                f'{meta.get("clip_checkpoint")!r}) but goes into CLIP '
                f'{self.clip.model_name!r} with weights {own} (file '
                f'{self.clip.checkpoint!r}); use the CLIP weights the prompt '
                f'was trained on, or a prompt trained on these {flag}')
        trained = meta.get('class_token_position')
        if trained and trained != self.class_token_position:
            raise ValueError(
                f'prompt {source!r} was trained with class_token_position='
                f'{trained!r} (its meta.class_token_position) but this '
                f'learner has {self.class_token_position!r}; set '
                f'class_token_position={trained!r} {flag}')

    def prompt_meta(self, vocabulary: Optional[Sequence[str]] = None
                    ) -> dict:
        """The ``meta`` a prompt file of this learner records (plain data).

        Args:
            vocabulary (Sequence[str], optional): The training vocabulary;
                defaults to the learner's current one.

        Returns:
            dict: ``clip_model``, ``clip_fingerprint``, ``clip_checkpoint``
            (the file's name), ``width``, ``n_ctx``,
            ``class_token_position``, ``class_specific``,
            ``context_length``, ``tokenizer``, ``vocabulary_size``,
            ``vocabulary_hash`` and ``pomp_mm_version``.
        """
        import os.path as osp

        from pomp_mm.version import __version__
        names = list(self.class_names if vocabulary is None else vocabulary)
        clip = self.clip
        checkpoint = getattr(clip, 'checkpoint', None)
        return dict(
            clip_model=getattr(clip, 'model_name', None),
            clip_fingerprint=getattr(clip, 'fingerprint', None),
            clip_checkpoint=osp.basename(checkpoint) if checkpoint else None,
            width=int(self.ctx.shape[-1]),
            n_ctx=int(self.n_ctx),
            class_token_position=self.class_token_position,
            class_specific=bool(self.class_specific),
            context_length=int(clip.context_length),
            tokenizer=type(clip.tokenizer).__name__,
            vocabulary_size=len(names),
            vocabulary_hash=vocabulary_hash(names),
            pomp_mm_version=__version__)

    # -- state dict: a frozen prompt file is not part of checkpoints -------
    def _frozen_from_config(self) -> bool:
        """A frozen ctx from a prompt file (configured, or given to a tool):
        it is not saved in checkpoints (the file is the prompt), and a ctx
        stored by an older checkpoint does not replace it. A frozen
        ``ctx_init`` or random ctx is saved and loaded as before."""
        return not self.ctx.requires_grad and \
            self.ctx_source not in ('random', 'ctx_init')

    @staticmethod
    def _drop_frozen_ctx(module, state_dict, prefix, local_metadata):
        if module._frozen_from_config():
            state_dict.pop(prefix + 'ctx', None)

    @staticmethod
    def _forgive_missing_ctx(module, incompatible_keys):
        if module._frozen_from_config():
            key = module._state_prefix + 'ctx'
            if key in incompatible_keys.missing_keys:
                incompatible_keys.missing_keys.remove(key)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Refuse a checkpoint whose ``ctx`` cannot be this prompt.

        MMEngine loads checkpoints with ``strict=False`` and only logs a
        size mismatch, which leaves the config's ctx in place: a silently
        wrong model. Here a ctx of another shape (another n_ctx, width or
        class count) or with non-finite values is an error, and so is a
        checkpoint without ctx for a frozen prompt that was never loaded
        (random values).
        """
        key = prefix + 'ctx'
        own = tuple(self.ctx.shape)
        self._state_prefix = prefix
        if key in state_dict and self._frozen_from_config():
            print_log(f'PompPromptLearner: ignoring the checkpoint\'s '
                      f'{key!r} (an older checkpoint stored it); the '
                      f'configured frozen prompt ({self.ctx_source}) is '
                      'used', logger='current')
            state_dict = {k: v for k, v in state_dict.items() if k != key}
        elif key in state_dict:
            value = state_dict[key]
            if tuple(value.shape) != own:
                raise CheckpointMismatchError(
                    f'checkpoint key {key!r} has shape '
                    f'{tuple(value.shape)} but the model\'s prompt has '
                    f'{own} (n_ctx={self.n_ctx}, width={own[-1]}); use the '
                    'config the checkpoint was trained with (e.g. '
                    f'--cfg-options model.prompt_learner.n_ctx='
                    f'{value.shape[-2] if value.dim() >= 2 else "?"})')
            check_finite_ctx(value, f'checkpoint key {key!r}',
                             CheckpointMismatchError)
        elif not self.ctx.requires_grad and self.ctx_source == 'random':
            raise CheckpointMismatchError(
                f'checkpoint has no {key!r}, and this frozen prompt was '
                'never loaded (its ctx is random); expected a checkpoint '
                'that holds it, or a prompt file (prompt_checkpoint=...)')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def load_prompt(self, path: str, loaded: Optional[tuple] = None) -> None:
        """Replace ``ctx`` by the one in a prompt file, adopting its n_ctx.

        The file may come from any task or from the official release (see
        :func:`load_prompt_ctx`); a different ``n_ctx`` re-tokenizes the
        vocabulary with the new number of placeholders. ``loaded`` is the
        file's ``(ctx, meta)`` when the caller has read it already
        (:func:`load_prompt` reads a file once for all learners).
        """
        ctx, meta = loaded if loaded is not None else load_prompt_file(
            path, width=self.clip.text_width, dtype=self.ctx.dtype)
        self._check_meta(path, meta)
        self.adopt_ctx(ctx, path)
        print_log(f'PompPromptLearner: prompt ctx {tuple(ctx.shape)} loaded '
                  f'from {path}', logger='current')

    def adopt_ctx(self, ctx: torch.Tensor, source: str) -> None:
        """Make ``ctx`` (from ``source``, for messages) this learner's.

        The one way a prompt enters a learner (:meth:`load_prompt`, and a
        prompt file given to MMEngine's ``load_checkpoint``). A different
        ``n_ctx`` re-tokenizes the vocabulary; the same shape is copied
        into the existing parameter, so an optimizer built before keeps
        training it.
        """
        check_finite_ctx(ctx, f'prompt {source!r}', CheckpointMismatchError)
        if (ctx.dim() == 3) != self.class_specific or (
                self.class_specific and ctx.shape[0] != self.num_classes):
            raise ValueError(
                f'prompt {source!r} has ctx of shape {tuple(ctx.shape)}, '
                f'which does not fit this learner (class_specific='
                f'{self.class_specific}, {self.num_classes} classes)')
        if ctx.shape[-1] != self.ctx.shape[-1]:
            raise ValueError(
                f'prompt {source!r}: ctx width {ctx.shape[-1]} (shape '
                f'{tuple(ctx.shape)}) does not match the CLIP text width '
                f'{self.ctx.shape[-1]}; use a prompt trained for this CLIP '
                'model')
        if ctx.shape[-2] != self.n_ctx:
            print_log(f'prompt {source!r} has n_ctx={ctx.shape[-2]} (config:'
                      f' {self.n_ctx}); using the file\'s', logger='current')
            self.n_ctx = int(ctx.shape[-2])
            self.prompt_prefix = ' '.join(['X'] * self.n_ctx)
            self._tokenized.clear()
            if self.class_names:
                names, self.class_names = self.class_names, []
                self.set_vocabulary(names)
        ctx = ctx.to(device=self.ctx.device, dtype=self.ctx.dtype)
        if ctx.shape == self.ctx.shape:  # in place: an optimizer built
            with torch.no_grad():        # before keeps training this ctx
                self.ctx.copy_(ctx)
        else:
            self.ctx = nn.Parameter(ctx.clone(),
                                    requires_grad=self.ctx.requires_grad)
        self.ctx_source = source

    # -- vocabulary ---------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prompt_text(self, name: str) -> str:
        """The text a class is tokenized from: ``'X X X X {name}.'``."""
        return f'{self.prompt_prefix} {clean_classname(name)}.'

    def set_vocabulary(self, vocabulary: Union[str, Sequence[str]]) -> None:
        """Tokenize a new vocabulary (class names or a class-name file).

        Raises ``ValueError`` naming every class whose prompt does not fit in
        CLIP's context (77 tokens).
        """
        names = read_vocabulary(vocabulary)
        if self.class_specific and len(self.class_names) not in (0,
                                                                 len(names)):
            raise ValueError(
                f'class-specific ctx was built for {len(self.class_names)} '
                f'classes; cannot switch to a vocabulary of {len(names)}')
        key = tuple(names)
        if key not in self._tokenized:
            if len(self._tokenized) >= 2:  # train + test vocabularies
                self._tokenized.pop(next(iter(self._tokenized)))
            self._tokenized[key] = self._tokenize(names)
        token_ids, eot_idx, name_lens = self._tokenized[key]
        device = self.token_ids.device
        self.token_ids = token_ids.to(device)
        self.eot_idx = eot_idx.to(device)
        self.name_lens = name_lens.to(device)
        self.class_names = list(names)
        self.vocabulary_version += 1

    def _tokenize(self, names: List[str]) -> tuple:
        """Token ids (N, 77), EOT positions and name lengths of prompts."""
        tok = self.clip.tokenizer
        length = self.clip.context_length
        sot, eot = tok.sot_token_id, tok.eot_token_id
        rows, too_long = [], []
        progress = ProgressBar(len(names)) if len(names) >= 20000 else None
        for name in names:
            ids = [sot] + tok.encode(self.prompt_text(name)) + [eot]
            if len(ids) > length:
                too_long.append((name, len(ids)))
            rows.append(ids)
            if progress is not None:
                progress.update()
        if too_long:
            name, n = too_long[0]
            name = name if len(name) <= 48 else name[:45].rstrip() + '...'
            raise ValueError(
                f'{len(too_long)} class name(s) do not fit in CLIP\'s '
                f'{length}-token context with n_ctx={self.n_ctx}, e.g. '
                f'{name!r} needs {n} tokens; expected at most {length}: '
                'shorten these names')
        token_ids = torch.zeros(len(rows), length, dtype=torch.long)
        for i, ids in enumerate(rows):
            token_ids[i, :len(ids)] = torch.tensor(ids)
        eot_idx = torch.tensor([len(r) - 1 for r in rows])
        name_lens = torch.tensor(
            [len(tok.encode(clean_classname(n))) for n in names]
            if self.class_token_position != 'end' else [0] * len(names))
        return token_ids, eot_idx, name_lens

    # -- prompts -------------------------------------------------------------
    def _source_index(self, name_lens: torch.Tensor,
                      length: int) -> torch.Tensor:
        """Where each prompt position is read from in ``cat([emb, ctx])``.

        ``emb`` is the (n, length) embedding of ``[SOS][X..X][name][.][EOT]``
        and ``ctx`` its (n, n_ctx) context; index ``< length`` reads ``emb``,
        ``length + j`` reads ``ctx[j]``. One gather serves all positions.
        """
        m = self.n_ctx
        p = torch.arange(length, device=name_lens.device).expand(
            len(name_lens), length)
        src = p.clone()
        if self.class_token_position == 'end':
            in_ctx = (p >= 1) & (p < 1 + m)
            src[in_ctx] = (length + p - 1)[in_ctx]
            return src
        n = name_lens[:, None]
        h = m // 2 if self.class_token_position == 'middle' else 0
        ctx1 = (p >= 1) & (p < 1 + h)  # first half of ctx (middle only)
        name = (p >= 1 + h) & (p < 1 + h + n)
        ctx2 = (p >= 1 + h + n) & (p < 1 + m + n)
        src[ctx1] = (length + p - 1)[ctx1]
        src[name] = (p + m - h)[name]
        src[ctx2] = (length + p - 1 - n)[ctx2]
        return src

    def prompt_embeddings(self,
                          class_idx: torch.Tensor,
                          truncate: bool = True,
                          ctx: Optional[torch.Tensor] = None) -> tuple:
        """Spliced prompt embeddings for the given classes.

        Args:
            class_idx (Tensor): (n,) class indices into the vocabulary.
            truncate (bool): Keep only the first ``max(eot) + 1`` positions.
                Defaults to True.
            ctx (Tensor, optional): Context to splice in instead of
                :attr:`ctx`: (n_ctx, width) shared by all prompts, or
                (n, n_ctx, width), one per prompt (e.g. CoCoOp's
                image-conditioned context). Defaults to None.

        Returns:
            tuple[Tensor, Tensor]: (n, L, width) embeddings and (n,) EOT
            positions.
        """
        if self.num_classes == 0:
            raise RuntimeError('PompPromptLearner has no vocabulary; call '
                               'set_vocabulary() or set `vocabulary`')
        eot = self.eot_idx[class_idx]
        length = int(eot.max()) + 1 if truncate else self.token_ids.shape[1]
        emb = self.clip.token_embedding(self.token_ids[class_idx, :length])
        if ctx is not None:
            ctx = self._check_ctx(ctx, len(class_idx))
            if ctx.dim() == 2:
                ctx = ctx.unsqueeze(0).expand(len(class_idx), -1, -1)
        elif self.class_specific:
            ctx = self.ctx[class_idx]
        else:
            ctx = self.ctx.unsqueeze(0).expand(len(class_idx), -1, -1)
        both = torch.cat([emb.to(ctx.dtype), ctx], dim=1)
        src = self._source_index(self.name_lens[class_idx], length)
        out = both.gather(1, src.unsqueeze(-1).expand(-1, -1, both.shape[-1]))
        return out, eot

    def _check_ctx(self, ctx: torch.Tensor, n: int) -> torch.Tensor:
        """An override context of shape (n_ctx, width) or (n, n_ctx, width)."""
        shape = (self.n_ctx, self.ctx.shape[-1])
        if tuple(ctx.shape[-2:]) != shape or ctx.dim() not in (2, 3) or (
                ctx.dim() == 3 and ctx.shape[0] != n):
            raise ValueError(
                f'ctx override of shape {tuple(ctx.shape)}: expected '
                f'{shape} or {(n, *shape)} for {n} prompts')
        return ctx

    def fast_path_reason(self) -> str:
        """Why the shared-prefix path does not apply ('' when it does)."""
        if self.class_token_position != 'end':
            return (f'class_token_position={self.class_token_position!r} '
                    "(the prefix is shared only with 'end')")
        if self.class_specific:
            return 'class_specific=True (no shared ctx)'
        return supports_shared_prefix(self.clip)[1]

    def forward(self,
                class_idx: Optional[torch.Tensor] = None,
                normalize: bool = False,
                truncate: bool = True,
                fast: Optional[bool] = None,
                ctx: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Text features of the prompts of ``class_idx`` (all if None).

        Args:
            class_idx (Tensor, optional): (n,) class indices; repeats are
                allowed. Defaults to None (the whole vocabulary).
            normalize (bool): L2-normalise. Defaults to False.
            truncate (bool): Plain path only: run the first
                ``max(eot) + 1`` positions; False runs all 77 (the
                official computation, kept as the reference).
                Defaults to True.
            fast (bool, optional): Use the shared-prefix path
                (:func:`~pomp_mm.core.fast_text.encode_shared_prefix`).
                ``None`` uses it when it applies, ``truncate`` is True and
                ``fast_text`` is set; True insists (an error if it cannot
                apply); False runs the plain path. Defaults to None.
            ctx (Tensor, optional): Use this context instead of
                :attr:`ctx` (see :meth:`prompt_embeddings`); a per-prompt
                (n, n_ctx, width) context always takes the plain path.
                Defaults to None.

        Returns:
            Tensor: (n, embed_dim) features, with grads to ``ctx``.
        """
        if class_idx is None:
            class_idx = torch.arange(self.num_classes,
                                     device=self.token_ids.device)
        per_prompt = ctx is not None and ctx.dim() == 3
        if fast is None:
            fast = self.fast_text and truncate and not per_prompt and \
                not self.fast_path_reason()
        elif fast:
            reason = 'a per-prompt ctx override' if per_prompt else \
                self.fast_path_reason()
            if reason:
                raise ValueError(f'fast=True: the shared-prefix text path '
                                 f'does not apply: {reason}')
        if fast:
            return self._forward_shared_prefix(class_idx, normalize, ctx)
        emb, eot = self.prompt_embeddings(class_idx, truncate=truncate,
                                          ctx=ctx)
        return self.clip.encode_embeddings(
            emb, eot, normalize=normalize, truncate=truncate)

    def _forward_shared_prefix(self, class_idx: torch.Tensor,
                               normalize: bool,
                               ctx: Optional[torch.Tensor] = None
                               ) -> torch.Tensor:
        """Each distinct class once, ``[SOS][ctx]`` computed once."""
        if self.num_classes == 0:
            raise RuntimeError('PompPromptLearner has no vocabulary; call '
                               'set_vocabulary() or set `vocabulary`')
        ctx = self.ctx if ctx is None else self._check_ctx(ctx,
                                                          len(class_idx))
        classes, inverse = torch.unique(class_idx, return_inverse=True)
        plen = 1 + self.n_ctx
        eot = self.eot_idx[classes]
        width = int(eot.max()) + 1 - plen
        suffix_ids = self.token_ids[classes, plen:plen + width]
        sos = self.clip.token_embedding(self.token_ids[:1, 0])
        prefix = torch.cat([sos.to(ctx.dtype), ctx])
        feats = encode_shared_prefix(self.clip, prefix, suffix_ids,
                                     eot - plen + 1, normalize=normalize)
        return feats[inverse]

    @torch.no_grad()
    def encode_vocabulary(self,
                          batch_size: int = 256,
                          normalize: bool = True,
                          progress: bool = True) -> torch.Tensor:
        """Text features of the whole vocabulary, in batches, no grad.

        Args:
            batch_size (int): Classes per text-tower batch. Defaults to 256.
            normalize (bool): L2-normalise. Defaults to True.
            progress (bool): Show a progress bar when there is more than one
                batch. Defaults to True.

        Returns:
            Tensor: (N, embed_dim) features.
        """
        n = self.num_classes
        device = self.token_ids.device
        chunks = list(torch.arange(n, device=device).split(batch_size))
        bar = ProgressBar(len(chunks)) if progress and len(chunks) > 1 \
            else None
        feats = []
        for idx in chunks:
            feats.append(self(idx, normalize=normalize))
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.file.write('\n')  # ProgressBar leaves the line open
            print_log(f'encoded {n} class prompts', logger='current')
        return torch.cat(feats)

    def extra_repr(self) -> str:
        return (f'n_ctx={self.n_ctx}, classes={self.num_classes}, '
                f'position={self.class_token_position!r}, '
                f'class_specific={self.class_specific}, '
                f'fast_text={self.fast_text}')


def vocabulary_hash(names: Sequence[str]) -> str:
    """``'sha256:'`` + 16 hex digits of the class names in label order
    (one per line), as prompt files record their training vocabulary."""
    import hashlib
    text = '\n'.join(names).encode('utf-8')
    return 'sha256:' + hashlib.sha256(text).hexdigest()[:16]


#: The keys of a prompt-only state dict: pomp_mm's and the official
#: format (``ctx``), and the Dassl trainer's prompt learner buffers.
PROMPT_FILE_KEYS = frozenset({'ctx', 'token_prefix', 'token_suffix'})


def is_prompt_state(state_dict: dict) -> bool:
    """True for the state dict of a prompt file (a root ``ctx`` tensor)."""
    return isinstance(state_dict.get('ctx'), torch.Tensor) and \
        set(state_dict) <= PROMPT_FILE_KEYS


def _learner_names(model: nn.Module) -> List[str]:
    """Module names of the prompt learners of an (unwrapped) model."""
    return [n for n, m in model.named_modules()
            if isinstance(m, PompPromptLearner)]


def load_prompt(model: nn.Module,
                prompt: Union[str, dict],
                source: Optional[str] = None,
                required: bool = True,
                log: bool = True,
                meta: Optional[dict] = None) -> List[str]:
    """Put a prompt into every :class:`PompPromptLearner` of ``model``.

    The one prompt route of pomp_mm (tools, inference APIs, MMEngine's
    ``load_checkpoint`` of a prompt file). A ``ctx`` of the learner's
    shape is copied *into* the existing parameter, so an optimizer built
    before keeps training the model's ``ctx`` (see
    :meth:`PompPromptLearner.adopt_ctx`).

    Args:
        model (nn.Module): The model, possibly wrapped (DDP, ...).
        prompt (str | dict): A prompt file (any format of
            :func:`~pomp_mm.core.checkpoint.load_prompt_file`; its
            ``meta.clip_model`` is checked) or a loaded prompt state dict
            with a root ``ctx``.
        source (str, optional): How the prompt is named in messages.
            Defaults to the path, or ``'the prompt state'``.
        required (bool): Raise when the model has no learner; False
            returns ``[]``. Defaults to True.
        log (bool): Log ``prompt SOURCE -> learner names``. Defaults to
            True.
        meta (dict, optional): The ``meta`` of the file a loaded prompt
            state came from, checked as a file's is
            (:meth:`PompPromptLearner.check_meta`). Defaults to None.

    Returns:
        list[str]: The learners' module names (``''`` for the model
        itself), in module order.
    """
    model = unwrap_model(model)
    names = _learner_names(model)
    if source is None:
        source = prompt if isinstance(prompt, str) else 'the prompt state'
    if not names:
        if required:
            raise ValueError(f'{type(model).__name__} has no '
                             f'PompPromptLearner to load the prompt '
                             f'{source!r} into')
        return []
    files = {}  # (width, dtype) -> (ctx, meta): each file is read once
    for name in names:
        learner = model.get_submodule(name)
        if isinstance(prompt, str):
            key = (learner.clip.text_width, learner.ctx.dtype)
            if key not in files:
                files[key] = load_prompt_file(prompt, width=key[0],
                                              dtype=key[1])
            learner.load_prompt(prompt, files[key])
        else:
            learner.check_meta(meta or {}, source)
            learner.adopt_ctx(prompt['ctx'], source)
    if log:
        print_log(f'prompt {source} -> '
                  f'{", ".join(n or type(model).__name__ for n in names)}',
                  logger='current')
    return names


def load_prompt_state_into(model: nn.Module, state_dict: dict,
                           source: str) -> List[str]:
    """:func:`load_prompt` of a loaded prompt state (kept for this release).

    Returns:
        list[str]: The learners' module names (empty if there are none).
    """
    return load_prompt(model, state_dict, source, required=False, log=False)


def load_prompt_into(model: nn.Module, path: str) -> int:
    """:func:`load_prompt` of a file (kept for this release).

    Returns:
        int: How many learners were loaded (an error if none).
    """
    return len(load_prompt(model, path))
