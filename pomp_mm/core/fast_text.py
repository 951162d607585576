"""Exact fast text path for prompts that share a prefix.

With the class token at the end, every POMP prompt is
``[SOS][ctx_1..ctx_M] | [name tokens][.][EOT]``: the first ``P = 1 + M``
tokens are the same for every class. Under CLIP's causal mask a token only
sees the tokens before it, so

* the prefix's hidden states (and so its keys and values in every layer) do
  not depend on the class: they are computed **once** per call;
* each class only needs its own ``s = len(name) + 2`` suffix tokens, whose
  queries attend to ``[prefix keys | own causal suffix keys]``;
* nothing after a prompt's EOT reaches the EOT output, so padding is never
  computed: suffixes are *packed* (no padding at all) for every per-token
  layer (LayerNorm, QKV/out projections, MLP) and grouped by length for the
  attention itself;
* in the last layer only the EOT query is needed.

Gradients reach ``ctx`` through the shared prefix keys/values, which every
class's attention reads. Nothing here is a different transformer: every
weight is read from open_clip's own ``ResidualAttentionBlock`` modules
(``ln_1``, ``attn.in_proj_*``, ``attn.out_proj``, ``ls_1``, ``ln_2``,
``mlp``, ``ls_2``), so the result is the 77-token result up to float
rounding (tests check features and ``ctx`` gradients to 1e-5 relative).

Mixed precision: matrix products run in the text tower's weight dtype (or
the autocast dtype), while the residual stream, LayerNorm and softmax stay
in float32, so bf16/fp16 towers lose only the rounding of the products.
"""
import math
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .clip import project_text


def supports_shared_prefix(clip: nn.Module) -> Tuple[bool, str]:
    """Whether a FrozenCLIP's text tower can take the shared-prefix path.

    Args:
        clip (FrozenCLIP): The frozen CLIP.

    Returns:
        tuple[bool, str]: ``(True, '')`` or ``(False, reason)``.
    """
    text = clip.model
    blocks = getattr(getattr(text, 'transformer', None), 'resblocks', None)
    if blocks is None or len(blocks) == 0:
        return False, 'the text tower has no transformer.resblocks'
    if getattr(text, 'attn_mask', None) is None:
        return False, 'the text tower is not causal (no attn_mask)'
    for blk in blocks:
        attn = getattr(blk, 'attn', None)
        if not isinstance(attn, nn.MultiheadAttention) or \
                attn.in_proj_weight is None or hasattr(blk, 'ln_1_kv'):
            return False, (f'text block {type(blk).__name__} is not a '
                           'standard ResidualAttentionBlock with a packed '
                           'nn.MultiheadAttention')
        if blk.training and attn.dropout > 0:
            return False, 'attention dropout is active'
    return True, ''


def _layer_norm(ln: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm in ``x``'s (float32 or wider) dtype, weights cast to it."""
    w = ln.weight.to(x.dtype) if ln.weight is not None else None
    b = ln.bias.to(x.dtype) if ln.bias is not None else None
    return F.layer_norm(x, ln.normalized_shape, w, b, ln.eps)


def _groups(lengths: List[int]) -> List[Tuple[int, int, int]]:
    """``(token offset, count, length)`` of runs of equal sorted lengths."""
    out, off, i = [], 0, 0
    while i < len(lengths):
        j = i
        while j < len(lengths) and lengths[j] == lengths[i]:
            j += 1
        out.append((off, j - i, lengths[i]))
        off += (j - i) * lengths[i]
        i = j
    return out


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            kp_t: torch.Tensor, vp: torch.Tensor,
            groups: List[Tuple[int, int, int]], eot_only: bool,
            neg_inf_mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Attention of packed suffix queries to ``[prefix | causal suffix]``.

    Args:
        q (Tensor): (T, H, d) queries, or (n, H, d) EOT queries when
            ``eot_only``.
        k (Tensor): (T, H, d) suffix keys.
        v (Tensor): (T, H, d) suffix values.
        kp_t (Tensor): (H, d, P) prefix keys, transposed.
        vp (Tensor): (H, P, d) prefix values.
        groups (list): ``(token offset, count, length)`` per length group.
        eot_only (bool): Only the last token of each sequence queries.
        neg_inf_mask (Tensor): (S, S) additive causal mask (0 / -inf).
        scale (float): Softmax scale, ``1 / sqrt(d)``.

    Returns:
        Tensor: (T, H*d) or (n, H*d) attention outputs, packed.
    """
    heads, dim, plen = kp_t.shape
    outs, row = [], 0
    for off, cnt, s in groups:
        rows = cnt * s
        kg = k[off:off + rows].view(cnt, s, heads, dim).permute(0, 2, 3, 1)
        vg = v[off:off + rows].view(cnt, s, heads, dim).transpose(1, 2)
        nq = 1 if eot_only else s
        tq = q[row:row + cnt] if eot_only else q[off:off + rows]
        row += cnt
        # (H, cnt*nq, P): one batched product per head against the prefix
        sp = torch.matmul(tq.transpose(0, 1), kp_t)
        qg = tq.view(cnt, nq, heads, dim).transpose(1, 2)  # (cnt,H,nq,d)
        ss = torch.matmul(qg, kg)  # (cnt, H, nq, s)
        if not eot_only:
            ss = ss + neg_inf_mask[:s, :s].to(ss.dtype)
        scores = torch.cat(
            [sp.view(heads, cnt, nq, plen).permute(1, 0, 2, 3), ss], dim=-1)
        acc = torch.promote_types(scores.dtype, torch.float32)
        probs = (scores.to(acc) * scale).softmax(dim=-1).to(vg.dtype)
        pp, ps = probs.split([plen, s], dim=-1)
        out = torch.matmul(ps, vg)  # (cnt, H, nq, d)
        op = torch.matmul(
            pp.permute(1, 0, 2, 3).reshape(heads, cnt * nq, plen), vp)
        out = out + op.view(heads, cnt, nq, dim).permute(1, 0, 2, 3)
        outs.append(out.transpose(1, 2).reshape(cnt * nq, heads * dim))
    return torch.cat(outs) if len(outs) > 1 else outs[0]


def encode_shared_prefix(clip: nn.Module,
                         prefix: torch.Tensor,
                         suffix_ids: torch.Tensor,
                         suffix_len: torch.Tensor,
                         normalize: bool = False) -> torch.Tensor:
    """Text features of prompts ``[prefix][suffix_i]`` sharing one prefix.

    Equal to running ``cat([prefix, embed(suffix_i)])`` through the text
    tower (:meth:`FrozenCLIP.encode_embeddings`) with the EOT at the end of
    each suffix, but the prefix is computed once and only real suffix tokens
    are computed (see the module docstring).

    Args:
        clip (FrozenCLIP): The frozen CLIP (see
            :func:`supports_shared_prefix`).
        prefix (Tensor): (P, width) token embeddings of the shared prefix
            (e.g. ``[SOS]`` + ``ctx``), without positional embeddings; may
            require grad.
        suffix_ids (Tensor): (n, S) token ids of each prompt's suffix
            (name tokens, ``.``, EOT), padded on the right.
        suffix_len (Tensor): (n,) number of real suffix tokens (>= 1); the
            last one is the EOT whose output is the feature.
        normalize (bool): L2-normalise the features. Defaults to False.

    Returns:
        Tensor: (n, embed_dim) features in the tower's dtype (float32 under
        autocast).
    """
    text = clip.model
    n = int(suffix_len.numel())
    plen, width = prefix.shape
    if n == 0:
        raise ValueError('encode_shared_prefix: no prompts (suffix_len is '
                         'empty)')
    lens_cpu = suffix_len.detach().cpu()
    if int(lens_cpu.min()) < 1 or \
            plen + int(lens_cpu.max()) > text.positional_embedding.shape[0]:
        raise ValueError(
            f'encode_shared_prefix: suffix lengths must be in [1, '
            f'{text.positional_embedding.shape[0] - plen}] for a prefix of '
            f'{plen} tokens, got [{int(lens_cpu.min())}, '
            f'{int(lens_cpu.max())}]')
    device = prefix.device
    order = torch.argsort(lens_cpu, stable=True)
    lens_sorted = lens_cpu[order]
    groups = _groups(lens_sorted.tolist())
    total = int(lens_sorted.sum())
    # packed token ids: row r of `order` contributes its first s_r tokens
    rows = order.repeat_interleave(lens_sorted)
    starts = torch.cumsum(lens_sorted, 0) - lens_sorted
    cols = torch.arange(total) - starts.repeat_interleave(lens_sorted)
    ends = (torch.cumsum(lens_sorted, 0) - 1).to(device)  # EOT rows
    ids = suffix_ids[rows.to(suffix_ids.device), cols.to(suffix_ids.device)]
    blocks = text.transformer.resblocks
    cdt = text.transformer.get_cast_dtype()  # matrix products
    if torch.is_autocast_enabled(device.type):
        cdt = torch.get_autocast_dtype(device.type)
    acc = torch.promote_types(cdt, torch.float32)  # residual, LN, softmax
    pos = text.positional_embedding
    x = text.token_embedding(ids.to(device)).to(acc) + \
        pos[plen + cols.to(device)].to(acc)
    xp = prefix.to(acc) + pos[:plen].to(acc)
    mask = text.attn_mask
    for i, blk in enumerate(blocks):
        last = i == len(blocks) - 1
        attn = blk.attn
        heads = attn.num_heads
        dim = width // heads
        scale = 1.0 / math.sqrt(dim)
        w_in, b_in = attn.in_proj_weight, attn.in_proj_bias
        # shared prefix: its keys/values (and, but for the last layer, its
        # own causal self-attention and MLP) once for all prompts
        qkv_p = F.linear(_layer_norm(blk.ln_1, xp).to(cdt), w_in, b_in)
        q_p, k_p, v_p = qkv_p.view(plen, 3, heads, dim).unbind(1)
        kp_t = k_p.permute(1, 2, 0)  # (H, d, P)
        vp = v_p.transpose(0, 1)  # (H, P, d)
        if not last:
            a_p = F.scaled_dot_product_attention(q_p.transpose(0, 1),
                                                 k_p.transpose(0, 1),
                                                 vp,
                                                 is_causal=True)
            a_p = a_p.transpose(0, 1).reshape(plen, width)
            xp = xp + blk.ls_1(attn.out_proj(a_p)).to(acc)
            xp = xp + blk.ls_2(blk.mlp(_layer_norm(blk.ln_2,
                                                   xp).to(cdt))).to(acc)
        h = _layer_norm(blk.ln_1, x).to(cdt)
        if last:  # only the EOT tokens query; every token is a key/value
            kv = F.linear(h, w_in[width:],
                          None if b_in is None else b_in[width:])
            k, v = kv.view(total, 2, heads, dim).unbind(1)
            q = F.linear(h[ends], w_in[:width],
                         None if b_in is None else b_in[:width])
            q = q.view(n, heads, dim)
            x = x[ends]
        else:
            qkv = F.linear(h, w_in, b_in)
            q, k, v = qkv.view(total, 3, heads, dim).unbind(1)
        a = _attend(q, k, v, kp_t, vp, groups, last, mask, scale)
        x = x + blk.ls_1(attn.out_proj(a)).to(acc)
        x = x + blk.ls_2(blk.mlp(_layer_norm(blk.ln_2, x).to(cdt))).to(acc)

    x = _layer_norm(text.ln_final, x).to(cdt)
    x = project_text(text, x)
    x = x[torch.argsort(order).to(device)]  # back to the input order
    return F.normalize(x, dim=-1) if normalize else x
