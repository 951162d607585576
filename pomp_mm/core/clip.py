"""A frozen CLIP built from an open_clip config and a local weight file.

pomp_mm never downloads weights: ``checkpoint`` is a path on disk, read in any
of the formats CLIP weights are distributed in:

* an OpenAI TorchScript archive (``ViT-B-16.pt`` as ``clip.load`` caches it),
  read as data (:func:`read_torchscript_state_dict`): none of its
  TorchScript is compiled or run,
* an OpenAI state dict (keys ``visual.*``, ``transformer.*``, ... plus
  ``input_resolution``/``context_length``/``vocab_size``),
* an open_clip checkpoint: a raw state dict, a dict with a ``state_dict`` key,
  keys with a ``module.`` prefix (DDP), or a ``.safetensors`` file.

OpenAI weights were trained with QuickGELU, which has no parameters, so a
plain ``ViT-B-16`` config would load them silently and compute the wrong
function. :class:`FrozenCLIP` therefore switches QuickGELU on for OpenAI files
unless told otherwise.

The text tower is entered through :meth:`FrozenCLIP.encode_embeddings`, which
takes token *embeddings* and EOT positions so a prompt learner can splice its
context vectors in; it reuses open_clip's own transformer modules.
"""
import contextlib
import logging
import os
import os.path as osp
import zipfile
from typing import Dict, Optional, Tuple

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.registry import MODELS

from .checkpoint import read_torchscript_state_dict

MODEL_CONFIG_DIR = osp.join(osp.dirname(osp.dirname(__file__)), 'model_configs')
_OPENAI_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')
#: ``POMP_MM_ALLOW_RANDOM_CLIP=1`` lets ``FrozenCLIP(checkpoint=None)`` build a
#: random CLIP without ``allow_random=True`` (the test suite sets it).
RANDOM_CLIP_ENV = 'POMP_MM_ALLOW_RANDOM_CLIP'
_PRECISIONS = {'fp32': torch.float32, 'fp16': torch.float16,
               'bf16': torch.bfloat16}

#: CLIP's pixel mean / std on the 0-255 scale (RGB): 255 times open_clip's
#: ``OPENAI_DATASET_MEAN`` / ``OPENAI_DATASET_STD``, the one definition of
#: every task's default data preprocessor.
CLIP_MEAN = (122.7709383, 116.7460125, 104.09373615)
CLIP_STD = (68.5005327, 66.6321579, 70.32316305)

open_clip.add_model_config(MODEL_CONFIG_DIR)  # tiny configs for tests/demos


def project_text(text_model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` (..., width) through CLIP's text projection (an ``nn.Linear``
    in some open_clip models, a (width, embed_dim) matrix in others)."""
    proj = text_model.text_projection
    return proj(x) if isinstance(proj, nn.Linear) else x @ proj


def text_tail(text_model: nn.Module, x: torch.Tensor,
              eot_idx: torch.Tensor) -> torch.Tensor:
    """The end of CLIP's text tower: each sequence's EOT token of the
    transformer output ``x`` (B, L, width), ``ln_final``, projection.

    ``ln_final`` is per token, so pooling first is exact.
    """
    x = x[torch.arange(x.shape[0], device=x.device), eot_idx]
    return project_text(text_model, text_model.ln_final(x))


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def weights_fingerprint(state_dict: Dict[str, torch.Tensor]) -> str:
    """A short fingerprint of CLIP weights, the same whatever file format
    or precision they were stored in.

    sha256 over the sorted keys, each tensor's shape and up to 4096 of its
    values (evenly strided, as float32): cheap (milliseconds for ViT-B-16)
    and different for any two trainings or random inits of one
    architecture. Prompt files record it (``meta.clip_fingerprint``) so a
    prompt is not silently used with other weights of the same CLIP model.

    Returns:
        str: ``'sha256:'`` and the first 16 hex digits.
    """
    import hashlib
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key].detach()
        flat = value.reshape(-1)
        step = max(1, flat.numel() // 4096)
        sample = flat[::step][:4096].to(torch.float32).cpu().contiguous()
        digest.update(f'{key}:{tuple(value.shape)};'.encode())
        digest.update(sample.numpy().tobytes())
    return 'sha256:' + digest.hexdigest()[:16]


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith('constants.pkl') for n in zf.namelist())


def read_clip_state_dict(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """Read CLIP weights from a local file in any supported format.

    Args:
        path (str): A local file (see the module docstring for formats).

    Returns:
        tuple[dict, str]: The state dict with open_clip key names and the
        detected format, one of ``'openai-jit'``, ``'openai'``,
        ``'open_clip'``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'CLIP checkpoint {path!r} does not exist; expected a local file '
            '(OpenAI TorchScript .pt, OpenAI state dict or open_clip '
            'checkpoint). pomp_mm never downloads weights.')
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            obj, fmt = load_file(path), 'open_clip'
        elif _is_torchscript(path):  # read as data, nothing of it runs
            obj = read_torchscript_state_dict(path)
            fmt = 'openai-jit'
        else:
            obj = torch.load(path, map_location='cpu', weights_only=True)
            fmt = 'open_clip'
    except Exception as e:  # noqa: BLE001 - one clear line for any reader error
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ''
        if 'Weights only load failed' in msg:
            msg = ('it is not a tensors-only file (corrupt, or a pickle of '
                   'Python objects)')
        raise ValueError(f'cannot read CLIP checkpoint {path!r}: '
                         f'{type(e).__name__}: {msg}') from e
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        obj = obj['state_dict']
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f'CLIP checkpoint {path!r} holds no state dict of '
                         'tensors (raw, or under a "state_dict" key)')
    sd = dict(obj)
    if all(k.startswith('module.') for k in sd):
        sd = {k[len('module.'):]: v for k, v in sd.items()}
    if any(k in sd for k in _OPENAI_EXTRA_KEYS):
        fmt = 'openai' if fmt == 'open_clip' else fmt
        for k in _OPENAI_EXTRA_KEYS:
            sd.pop(k, None)
    return sd, fmt


def _describe_mismatch(model: nn.Module, sd: Dict[str, torch.Tensor]) -> str:
    """Summarise how ``sd`` fails to fit ``model`` ('' if it fits)."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [(k, tuple(sd[k].shape), tuple(v.shape)) for k, v in own.items()
              if k in sd and sd[k].shape != v.shape]
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing keys (e.g. {missing[0]!r})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected keys '
                     f'(e.g. {unexpected[0]!r})')
    if shapes:
        k, a, b = shapes[0]
        parts.append(f'{len(shapes)} shape mismatches (e.g. {k!r}: file {a} '
                     f'vs model {b})')
    return ', '.join(parts)


class RandomCLIPError(ValueError):
    """A CLIP without weights was asked for without ``allow_random``."""


@MODELS.register_module()
class FrozenCLIP(nn.Module):
    """An open_clip CLIP model, loaded from a local file and frozen.

    Args:
        model_name (str): An open_clip model config name, e.g. ``'RN50'``,
            ``'ViT-B-32'``, ``'ViT-B-16'``, ``'ViT-L-14'`` or one of the tiny
            configs shipped in ``pomp_mm/model_configs`` (``'pomp-test-vit'``,
            ``'pomp-tiny-vit'``, ...). Defaults to ``'ViT-B-16'``.
        checkpoint (str, optional): Local weight file. ``None`` keeps the
            random initialisation (tests only). Defaults to None.
        precision (str): ``'fp32'``, ``'fp16'`` or ``'bf16'`` weights.
            With fp16/bf16, LayerNorm weights stay float32 and LayerNorm
            statistics are computed in float32. Defaults to ``'fp32'``.
        image_precision (str, optional): ``'fp32'``, ``'fp16'`` or
            ``'bf16'`` weights of the (frozen) image tower alone, e.g. bf16
            images with an fp32 text tower; LayerNorm stays float32 as
            above and attention runs in PyTorch's fused kernels (softmax
            accumulated in float32). ``None`` follows ``precision``.
            Features come back in that dtype (``extract_feat`` makes them
            float32). Defaults to None.
        quick_gelu (bool, optional): Use QuickGELU activations. ``None``
            picks True for OpenAI-format files and the config's own setting
            otherwise. Defaults to None.
        text_only (bool): Drop the image tower after loading (detection and
            feature dumping only need text). Defaults to False.
        save_weights (bool, optional): Keep CLIP's weights in this module's
            ``state_dict``. ``None`` means only when there is no
            ``checkpoint`` to rebuild them from, so MMEngine checkpoints of a
            prompt-tuning run hold the prompt, not 600 MB of frozen CLIP.
            Defaults to None.
        allow_random (bool, optional): Allow ``checkpoint=None``, a random
            CLIP whose numbers mean nothing (tests, benchmarks, demos).
            ``None`` takes it from the environment variable
            ``POMP_MM_ALLOW_RANDOM_CLIP=1`` (the test suite sets it), else
            a missing checkpoint is an error: a forgotten
            ``clip.checkpoint`` must not report 0.0 accuracy with exit code
            0. Defaults to None.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 checkpoint: Optional[str] = None,
                 precision: str = 'fp32',
                 quick_gelu: Optional[bool] = None,
                 text_only: bool = False,
                 save_weights: Optional[bool] = None,
                 allow_random: Optional[bool] = None,
                 image_precision: Optional[str] = None) -> None:
        super().__init__()
        if ':' in model_name:
            raise ValueError(
                f'CLIP model_name {model_name!r}: hub schemas are not '
                'supported; use an open_clip config name and a local '
                'checkpoint file')
        if model_name not in open_clip.list_models():
            raise ValueError(
                f'CLIP model_name {model_name!r} is not an open_clip config; '
                f'expected one of e.g. RN50, ViT-B-32, ViT-B-16, ViT-L-14, '
                f'pomp-test-vit (see open_clip.list_models())')
        if precision not in _PRECISIONS:
            raise ValueError(f'CLIP precision {precision!r}: expected one of '
                             f'{sorted(_PRECISIONS)}')
        if image_precision is not None and image_precision not in \
                _PRECISIONS:
            raise ValueError(f'CLIP image_precision {image_precision!r}: '
                             f'expected one of {sorted(_PRECISIONS)} or None')
        if not checkpoint:
            if allow_random is None:
                allow_random = os.environ.get(RANDOM_CLIP_ENV) == '1'
            if not allow_random:
                raise RandomCLIPError(
                    f'FrozenCLIP({model_name!r}): no checkpoint given, so its '
                    'weights would be random and every number meaningless; '
                    'expected checkpoint=<a local CLIP weight file> (e.g. '
                    '--cfg-options model.prompt_learner.clip.checkpoint='
                    'checkpoints/ViT-B-16.pt; pomp_mm never downloads '
                    'weights), or allow_random=True for a random CLIP '
                    '(tests, benchmarks, demos)')
            print_log(f'FrozenCLIP {model_name}: RANDOM weights (no '
                      'checkpoint, allow_random): its numbers mean nothing',
                      logger='current', level=logging.WARNING)
        sd, fmt = read_clip_state_dict(checkpoint) if checkpoint else (None,
                                                                        None)
        if quick_gelu is None:
            quick_gelu = fmt in ('openai', 'openai-jit')
        self.model_name = model_name
        self.checkpoint = checkpoint
        self.weight_format = fmt
        self.save_weights = checkpoint is None if save_weights is None \
            else save_weights
        with _quiet_root_logger():  # "No pretrained weights loaded"
            self.model = open_clip.create_model(
                model_name, pretrained=None, precision='fp32', device='cpu',
                force_quick_gelu=bool(quick_gelu))
        if sd is not None:
            # traced/scripted archives also carry non-persistent buffers
            transient = {n for n, _ in self.model.named_buffers()} - set(
                self.model.state_dict())
            sd = {k: v for k, v in sd.items() if k not in transient}
            problem = _describe_mismatch(self.model, sd)
            if problem:
                raise ValueError(
                    f'CLIP checkpoint {checkpoint!r} does not fit model '
                    f'{model_name!r}: {problem}; choose the model_name the '
                    'weights were trained with')
            self.model.load_state_dict(sd, strict=True)
        #: :func:`weights_fingerprint` of the loaded weights (None for a
        #: random CLIP); prompt files record it and are checked against it
        self.fingerprint = weights_fingerprint(sd) if sd is not None \
            else None
        if sd is not None:
            print_log(f'FrozenCLIP {model_name}: weights loaded from '
                      f'{checkpoint} ({fmt}), fingerprint {self.fingerprint}',
                      logger='current')
        if not hasattr(self.model, 'token_embedding'):
            raise ValueError(
                f'CLIP model {model_name!r} has no plain text transformer '
                '(HF or custom text towers are not supported)')
        if getattr(self.model, 'text_pool_type', 'argmax') != 'argmax':
            raise ValueError(
                f'CLIP model {model_name!r} pools text with '
                f'{self.model.text_pool_type!r}; POMP needs EOT (argmax) '
                'pooling')
        if text_only:
            self.model.visual = None
        self.model.to(_PRECISIONS[precision])
        self.image_precision = image_precision or precision
        if self.model.visual is not None:
            self.model.visual.to(_PRECISIONS[self.image_precision])
        if precision != 'fp32' or self.image_precision != 'fp32':
            # fp32 LayerNorm (mixed-dtype F.layer_norm)
            for module in self.model.modules():
                if isinstance(module, nn.LayerNorm):
                    module.float()
        self.model.requires_grad_(False)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self._state_prefix = ''
        self._register_state_dict_hook(FrozenCLIP._drop_weights)
        self.register_load_state_dict_post_hook(FrozenCLIP._forgive_missing)

    # -- state dict: frozen weights are rebuilt from `checkpoint` -----------
    @staticmethod
    def _drop_weights(module, state_dict, prefix, local_metadata):
        if not module.save_weights:
            for k in [k for k in state_dict if k.startswith(prefix)]:
                del state_dict[k]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self._state_prefix = prefix
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def _forgive_missing(module, incompatible_keys):
        if not module.save_weights:
            keep = [k for k in incompatible_keys.missing_keys
                    if not k.startswith(module._state_prefix)]
            incompatible_keys.missing_keys[:] = keep

    def train(self, mode: bool = True) -> 'FrozenCLIP':
        """Keep CLIP in eval mode whatever the parent's mode (BN, dropout)."""
        super().train(mode)
        self.model.eval()
        return self

    # -- properties -----------------------------------------------------------
    @property
    def context_length(self) -> int:
        return int(self.model.context_length)

    @property
    def text_width(self) -> int:
        return int(self.model.token_embedding.weight.shape[1])

    @property
    def text_dtype(self) -> torch.dtype:
        return self.model.transformer.get_cast_dtype()

    @property
    def embed_dim(self) -> int:
        proj = self.model.text_projection
        return int(proj.out_features if isinstance(proj, nn.Linear) else
                   proj.shape[1])

    @property
    def logit_scale(self) -> torch.Tensor:
        """CLIP's stored (frozen) temperature, ``exp(logit_scale)``."""
        return self.model.logit_scale.exp().float()

    @property
    def image_size(self) -> Tuple[int, int]:
        size = self.model.visual.image_size
        return tuple(size) if isinstance(size, (tuple, list)) else (size,
                                                                    size)

    # -- encoders -------------------------------------------------------------
    def token_embedding(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Embed token ids with CLIP's (frozen) token embedding table."""
        return self.model.token_embedding(token_ids)

    def check_image_size(self, images: torch.Tensor) -> None:
        """Raise one clear error unless ``images`` fit the image tower.

        Args:
            images (Tensor): (B, 3, H, W) input batch.
        """
        if self.model.visual is None:
            raise RuntimeError('this FrozenCLIP was built with text_only=True')
        if tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(
                f'input images are {tuple(images.shape[-2:])} but CLIP '
                f'{self.model_name!r} expects {self.image_size}; set the '
                'crop/resize size of the data pipeline to match')

    def encode_image(self,
                     images: torch.Tensor,
                     normalize: bool = False) -> torch.Tensor:
        """Image features (B, embed_dim) from CLIP's image tower."""
        self.check_image_size(images)
        param = next(self.model.visual.parameters())
        feats = self.model.visual(images.to(param.dtype))
        return F.normalize(feats, dim=-1) if normalize else feats

    def encode_text(self,
                    token_ids: torch.Tensor,
                    normalize: bool = False) -> torch.Tensor:
        """Text features of token ids (same as open_clip's ``encode_text``)."""
        eot = token_ids.argmax(dim=-1)
        return self.encode_embeddings(
            self.token_embedding(token_ids), eot, normalize=normalize)

    def encode_embeddings(self,
                          embeddings: torch.Tensor,
                          eot_idx: torch.Tensor,
                          normalize: bool = False,
                          truncate: bool = True) -> torch.Tensor:
        """The text tower entered with token embeddings.

        Args:
            embeddings (Tensor): (B, L, width) token embeddings, *without*
                positional embeddings, L <= context length.
            eot_idx (Tensor): (B,) position of each sequence's EOT token,
                whose output is the text feature.
            normalize (bool): L2-normalise the features. Defaults to False.
            truncate (bool): Run the transformer on the first
                ``max(eot_idx) + 1`` positions only. Under CLIP's causal mask
                nothing after a sequence's EOT reaches its EOT output, so
                this is exact; False runs all L positions (the reference).
                Defaults to True.

        Returns:
            Tensor: (B, embed_dim) text features.
        """
        text = self.model
        length = embeddings.shape[1]
        if truncate:
            length = int(eot_idx.max()) + 1
            embeddings = embeddings[:, :length]
        dtype = self.text_dtype
        x = embeddings.to(dtype) + text.positional_embedding[:length].to(dtype)
        x = text.transformer(x, attn_mask=text.attn_mask[:length, :length])
        x = text_tail(text, x, eot_idx)
        return F.normalize(x, dim=-1) if normalize else x

    def extra_repr(self) -> str:
        return (f'model_name={self.model_name!r}, checkpoint='
                f'{self.checkpoint!r}, format={self.weight_format!r}')

