"""Short attention on the CPU: the same float32 result as torch's SDPA for decoding and draft
verification shapes (grouped heads, masks of every form transformers passes), what it leaves to
SDPA, and a model decoding through it with the logits it had before."""

import functools

import pytest
import torch
import torch.nn.functional as F

from inference import attention


def sdpa_reference(query, key, value, mask, scaling):
    groups = query.shape[1] // key.shape[1]
    out = F.scaled_dot_product_attention(query.float(), key.float().repeat_interleave(groups, 1),
                                         value.float().repeat_interleave(groups, 1),
                                         attn_mask=None if mask is None else (mask if mask.dtype == torch.bool else mask.float()),
                                         scale=scaling)
    return out.transpose(1, 2)


@pytest.mark.parametrize("hq, hk, d, s", [(4, 4, 16, 9), (16, 8, 32, 40), (8, 1, 64, 33)])
@pytest.mark.parametrize("rows, mask_kind", [(1, None), (1, "bool"), (5, "bool"), (5, "float"), (3, "per-head")])
def test_it_computes_what_sdpa_does(hq, hk, d, s, rows, mask_kind):
    g = torch.Generator().manual_seed(hq * s + rows)
    query = torch.randn(2, rows, hq, d, generator=g).to(torch.bfloat16).transpose(1, 2)  # as the model's: a view
    key, value = (torch.randn(2, hk, s, d, generator=g).to(torch.bfloat16) for _ in range(2))
    causal = torch.ones(rows, s, dtype=torch.bool).tril(s - rows)  # each new row sees the cache and itself
    causal[:, :2] = False  # and not the first two keys (a sliding window, say)
    mask = {None: None, "bool": causal[None, None], "float": torch.where(causal, 0.0, -1e9)[None, None].to(torch.bfloat16),
            "per-head": causal[None, None].expand(2, hq, rows, s)}[mask_kind]
    got = attention.short_attention(query, key, value, mask, scaling=0.5)
    expected = sdpa_reference(query, key, value, mask, 0.5)
    assert got.shape == (2, rows, hq, d) and got.dtype == torch.bfloat16 and got.is_contiguous()
    torch.testing.assert_close(got.float(), expected, rtol=1 / 64, atol=1 / 64)


def test_only_short_unmasked_or_masked_cpu_queries_take_it():
    calls = []
    sdpa = lambda *args, **kwargs: calls.append(kwargs) or ("sdpa", None)  # noqa: E731
    route = functools.partial(attention._routed, sdpa)
    one = torch.randn(1, 4, 1, 8)
    key = torch.randn(1, 4, 6, 8)
    mask = torch.ones(1, 1, 5, 6, dtype=torch.bool)
    with torch.no_grad():
        assert route(None, one.bfloat16(), key.bfloat16(), key.bfloat16(), None)[0].shape == (1, 1, 4, 8)
        assert route(None, torch.randn(1, 4, 5, 8), key, key, mask)[0].shape == (1, 5, 4, 8)
        assert calls == []
        assert route(None, torch.randn(1, 4, 5, 8), key, key, None) == ("sdpa", None)  # causal by flag: SDPA's
        assert route(None, torch.randn(1, 4, attention.SHORT_ROWS + 1, 8), key, key, None)[0] == "sdpa"  # a prompt
        assert route(None, one, key, key, None, dropout=0.1)[0] == "sdpa"
        assert route(None, one, key, key, None, softcap=30.0)[0] == "sdpa"
    assert route(None, one, key, key, None)[0] == "sdpa"  # autograd on: training is SDPA's
    assert len(calls) == 5


def test_a_model_decodes_through_it_with_the_logits_it_had(tiny):
    from transformers import AttentionInterface, DynamicCache
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from inference.loader import LoadOptions, load_engine

    engine = load_engine(LoadOptions(model=str(tiny.model_dir), quantization="none", use_draft=False, check_memory=False))
    model = engine.model.float()  # in float32 the two agree exactly; in bf16 they round differently
    assert model.config.get_text_config()._attn_implementation == "sdpa"
    ids = torch.randint(0, 400, (1, 40))

    def decode_logits():
        cache = DynamicCache(config=model.config.get_text_config())
        with torch.no_grad():
            model(input_ids=ids[:, :30], cache=cache, use_cache=True)  # the prompt: SDPA either way
            steps = [model(input_ids=ids[:, i:i + 1], cache=cache, use_cache=True).logits for i in range(30, 34)]
            steps.append(model(input_ids=ids[:, 34:39], cache=cache, use_cache=True).logits)  # a draft of 5
        return torch.cat(steps, dim=1)

    spied = []
    original_short = attention.short_attention
    attention.short_attention = lambda *a, **k: spied.append(a[0].shape[2]) or original_short(*a, **k)
    try:
        ours = decode_logits()
        AttentionInterface.register("sdpa", sdpa_attention_forward)
        theirs = decode_logits()
    finally:
        attention.install.__wrapped__()  # as the loader left it, for the rest of the session
        attention.short_attention = original_short
    layers = model.config.get_text_config().num_hidden_layers
    assert spied.count(1) == 4 * layers and spied.count(5) == layers
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
