"""Attention for a few query rows on the CPU: decoding, and verifying a draft.

torch's CPU ``scaled_dot_product_attention`` runs one query row over the cache through its flash
kernel, made for long queries: at a 465-token context, one decoding step of a 12B sliding layer
(16 query heads on 8 key/value heads of 256) took 2.1 ms there, a full layer (1 key/value head of
512) 5.1 ms, and at 4000 tokens 43 ms a full layer: more than its matmuls. ``short_attention``
computes the same thing as two float32 matmuls and a softmax per key/value head, with the query
heads of each head side by side: 0.4, 0.9 and 3.8 ms, and the same float32 result (its error
against a float32 reference is the bf16 rounding of the output, as SDPA's is).

``install()`` puts it in front of transformers' "sdpa" attention for the whole process (through
``AttentionInterface.register``, transformers' own way to supply an attention function). It takes
only CPU queries of up to ``SHORT_ROWS`` rows without dropout, softcap or a position bias, and with
a mask whenever there is more than one row; everything else, prompts and other devices among it,
goes to transformers' own function as before.
"""

from __future__ import annotations

import functools

import torch

SHORT_ROWS = 8  # decoding (1 row) and a drafter's verification (its draft + 1)


@functools.cache
def install() -> None:
    """Route short CPU attention to ``short_attention`` (once per process)."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    AttentionInterface.register("sdpa", functools.partial(_routed, sdpa_attention_forward))


def _routed(sdpa, module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    if _short(query, attention_mask, dropout, kwargs):
        return short_attention(query, key, value, attention_mask, scaling), None
    return sdpa(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs)


def _short(query, attention_mask, dropout, kwargs) -> bool:
    rows = query.shape[2]
    return (query.device.type == "cpu" and rows <= SHORT_ROWS and (rows == 1 or attention_mask is not None)
            and not dropout and kwargs.get("softcap") is None and kwargs.get("position_bias") is None
            and not kwargs.get("output_attentions", False) and not torch.is_grad_enabled())


def short_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    attention_mask: torch.Tensor | None = None, scaling: float | None = None) -> torch.Tensor:
    """softmax(q k^T * scaling + mask) v in float32, for ``query [b, hq, q, d]`` and ``key`` /
    ``value [b, hk, s, d]`` (hq a multiple of hk: query head h reads key/value head h // (hq / hk)).
    ``attention_mask``: bool (True = attend) or additive float, ``[b or 1, 1 or hq, q, s]``.
    Returns ``[b, q, hq, d_v]`` in the query's dtype, as transformers' attention functions do."""
    b, hq, q, d = query.shape
    hk, s, dv = key.shape[1], key.shape[2], value.shape[-1]
    groups = hq // hk
    scale = d ** -0.5 if scaling is None else scaling
    queries = query.reshape(b, hk, groups * q, d).float()  # the query heads of one kv head, row by row
    scores = torch.matmul(queries, key.float().transpose(-1, -2)).mul_(scale)  # [b, hk, groups * q, s]
    if attention_mask is not None:
        grid = scores.view(b, hk, groups, q, s)
        mask = attention_mask.view(attention_mask.shape[0], hk, groups, q, s) if attention_mask.shape[1] == hq \
            else attention_mask.unsqueeze(2)  # one mask for every head
        if mask.dtype == torch.bool:
            grid.masked_fill_(~mask, float("-inf"))
        else:
            grid.add_(mask.float())
    weights = torch.softmax(scores, dim=-1)
    out = torch.matmul(weights, value.float())  # [b, hk, groups * q, dv]
    return out.view(b, hq, q, dv).transpose(1, 2).contiguous().to(query.dtype)
