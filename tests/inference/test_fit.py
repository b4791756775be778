"""Memory estimates match what transformers and optimum-quanto really allocate; messages say what fits."""

import math
from pathlib import Path

import psutil
import pytest

from inference import fit
from inference.errors import ModelDoesNotFit
from inference.fit import (
    RUNTIME_OVERHEAD, attention_layers, available_memory, describe, estimate, fit_check, kv_cache_bytes,
    quanto_group_size, require_fit, tensor_bytes, weight_bytes,
)
from inference.verify import ModelReport, verify_assistant, verify_model

GB = 10**9


@pytest.fixture(scope="module")
def report(tiny) -> ModelReport:
    return verify_model(tiny.model_dir)


@pytest.fixture(scope="module")
def drafter(tiny, report) -> ModelReport:
    return verify_assistant(tiny.assistant_dir, report)


def load_tiny(model_dir: Path, dtype: str):
    import torch
    from transformers import Gemma4UnifiedForConditionalGeneration

    return Gemma4UnifiedForConditionalGeneration.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()


def state_bytes(module) -> int:
    """Bytes of everything a module holds, quanto's packed data and scales included."""
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def synthetic_12b() -> ModelReport:
    """A report shaped like a 12B Gemma 4 (published-style config), without any file."""
    text = dict(
        hidden_size=3840, intermediate_size=15360, num_hidden_layers=48, num_attention_heads=16,
        num_key_value_heads=8, head_dim=256, global_head_dim=512, vocab_size=262144, sliding_window=1024,
    )
    tensors = {"model.language_model.embed_tokens.weight": ("BF16", (262144, 3840))}
    for i, layer in enumerate(attention_layers({"text_config": text})):
        p = f"model.language_model.layers.{i}."
        q, kv = 16 * layer.head_dim, layer.kv_heads * layer.head_dim
        for name, shape in [
            ("self_attn.q_proj", (q, 3840)), ("self_attn.k_proj", (kv, 3840)), ("self_attn.v_proj", (kv, 3840)),
            ("self_attn.o_proj", (3840, q)), ("mlp.gate_proj", (15360, 3840)), ("mlp.up_proj", (15360, 3840)),
            ("mlp.down_proj", (3840, 15360)),
        ]:
            tensors[p + name + ".weight"] = ("BF16", shape)
        tensors[p + "input_layernorm.weight"] = ("BF16", (3840,))
    tensors["model.vision_embedder.patch_dense.weight"] = ("BF16", (3840, 6912))
    config = {"model_type": "gemma4_unified", "text_config": text, "tie_word_embeddings": True}
    total = sum(math.prod(s) * 2 for _, s in tensors.values())
    return ModelReport(Path("/models/gemma-4-12B-it"), "gemma4_unified", "x", tensors, total, config=config)


def test_quantizing_shrinks_the_weights_in_order(report):
    for r in (report, synthetic_12b()):
        none, int8, int4 = (weight_bytes(r, s) for s in ("none", "int8", "int4"))
        assert int4 < int8 < none


def test_a_12b_model_needs_believable_amounts():
    r = synthetic_12b()
    params = sum(math.prod(s) for _, s in r.tensors.values())
    assert 10e9 < params < 14e9
    none, int8, int4 = (weight_bytes(r, s) for s in ("none", "int8", "int4"))
    assert none == 2 * params  # bf16
    quantized = sum(math.prod(s) for n, (_, s) in r.tensors.items() if "_proj" in n and ".layers." in n)
    kept = params - quantized  # the embedding and the vision embedder stay bf16
    assert int8 == pytest.approx(quantized * 1 + kept * 2, rel=0.01)
    assert int4 == pytest.approx(quantized * (0.5 + 2 * 2 / 128) + kept * 2, rel=0.01)


def test_the_unquantized_estimate_matches_the_loaded_model(tiny, report):
    model = load_tiny(tiny.model_dir, "float32")
    actual = sum(p.numel() * p.element_size() for p in model.parameters())
    assert weight_bytes(report, "none", "float32") == pytest.approx(actual, rel=0.05)


def test_the_drafter_estimate_matches_the_loaded_drafter(tiny, drafter):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny.assistant_dir, dtype=torch.float32)
    actual = sum(p.numel() * p.element_size() for p in model.parameters())
    assert weight_bytes(drafter, "none", "float32") == pytest.approx(actual, rel=0.05)


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_the_quantized_estimate_matches_optimum_quanto(tiny, report, scheme):
    from optimum.quanto import freeze, qint4, qint8, quantize

    model = load_tiny(tiny.model_dir, "bfloat16")
    quantize(model, weights={"int8": qint8, "int4": qint4}[scheme], include=["*.layers.*_proj"])
    freeze(model)
    assert weight_bytes(report, scheme, "bfloat16") == pytest.approx(state_bytes(model), rel=0.05)


def test_int4_groups_follow_quanto(tiny):
    import torch
    from optimum.quanto import freeze, qint4, quantize

    layer = torch.nn.Sequential(torch.nn.Linear(384, 64, bias=False)).to(torch.bfloat16)
    quantize(layer, weights=qint4)
    freeze(layer)
    assert tensor_bytes("m.layers.0.mlp.down_proj.weight", "BF16", (64, 384), "int4", 2) == state_bytes(layer)
    assert [quanto_group_size(n) for n in (100, 128, 256, 384, 160, 200)] == [None, None, 128, 128, 32, None]


def test_what_stays_unquantized(report):
    embed = "model.language_model.embed_tokens.weight"
    assert tensor_bytes(embed, "F32", (512, 64), "int4", 2) == 512 * 64 * 2
    assert tensor_bytes("model.vision_embedder.patch_dense.weight", "F32", (64, 6912), "int8", 2) == 64 * 6912 * 2
    tied = dict(report.tensors, **{"lm_head.weight": report.tensors[embed]})
    assert weight_bytes(ModelReport(report.path, "", "", tied, 0, config=report.config), "none") == weight_bytes(
        report, "none"
    )


def test_the_kv_cache_grows_with_context_and_sliding_layers_stop_at_the_window(report):
    # tiny: 2 sliding layers (1 KV head x 16) and 2 full layers (1 KV head x 32), window 32, bf16
    per_token_sliding, per_token_full = 2 * (2 * 1 * 16 * 2), 2 * (2 * 1 * 32 * 2)
    kv = lambda n: kv_cache_bytes(report.config, n)  # noqa: E731
    assert kv(10) - kv(9) == per_token_sliding + per_token_full
    assert kv(1000) - kv(999) == per_token_full
    assert kv(8192) > kv(1024) > kv(0) == 0


def test_the_kv_estimate_matches_a_real_cache(tiny, report):
    import torch

    model = load_tiny(tiny.model_dir, "float32")
    for n in (20, 100):
        with torch.no_grad():
            out = model(input_ids=torch.randint(20, 300, (1, n)), use_cache=True)
        actual = sum(t.numel() * t.element_size() for layer in out.cache.layers for t in (layer.keys, layer.values))
        assert kv_cache_bytes(report.config, n, "float32") == pytest.approx(actual, rel=0.02)


def test_published_config_keys_are_read():
    text = {"num_hidden_layers": 6, "head_dim": 256, "num_key_value_heads": 8, "global_head_dim": 512,
            "num_global_key_value_heads": 2}
    layers = attention_layers({"text_config": dict(text, attention_k_eq_v=True)})
    assert [(x.sliding, x.head_dim, x.kv_heads) for x in layers] == [(True, 256, 8)] * 5 + [(False, 512, 2)]
    layers = attention_layers({"text_config": text})  # the global KV-head count only applies with k_eq_v
    assert layers[-1].kv_heads == 8


def test_the_drafter_adds_its_unquantized_weights_but_keeps_no_cache(report, drafter):
    assert kv_cache_bytes(drafter.config, 4096) == 0
    alone, both = estimate(report, "int8", 4096), estimate(report, "int8", 4096, drafter)
    assert both.total - alone.total == both.drafter == weight_bytes(drafter, "none") > weight_bytes(drafter, "int8")


def test_a_chosen_scheme_that_does_not_fit_points_to_one_that_does(report, monkeypatch):
    need = {s: estimate(report, s, 4096).total for s in ("int8", "int4")}
    free = (need["int8"] + need["int4"]) // 2
    monkeypatch.setattr(fit, "available_memory", lambda device: free)
    with pytest.raises(ModelDoesNotFit) as e:
        require_fit(report, "int8", "cpu", 4096, dtype="bfloat16")
    message = str(e.value)
    assert message.startswith("gemma-4-tiny-it does not fit in memory with int8: it needs ")
    assert f"int4 fits ({need['int4'] / GB:.1f} GB). Choose int4 in Settings, or close other programs." in message
    assert require_fit(report, "int4", "cpu", 4096).fits


def test_dropping_the_drafter_is_suggested_before_a_smaller_scheme(report, drafter):
    e = estimate(report, "int8", 4096, drafter)
    result = fit_check(report, "int8", "cpu", 4096, drafter, available=e.total - e.drafter)
    assert not result.fits
    assert "Without the drafter it fits" in result.message and "Turn the drafter off in Settings" in result.message


def test_when_nothing_fits_the_message_says_so(report):
    result = fit_check(report, "none", "cpu", 4096, available=RUNTIME_OVERHEAD // 2)
    assert not result.fits and "Even int4 needs" in result.message and "more memory" in result.message


def test_a_fitting_model_says_so(report):
    result = fit_check(report, "none", "cpu", 4096, available=100 * GB)
    assert result.fits and result.message.startswith("gemma-4-tiny-it fits in memory with none")
    assert set(result.needed) == {"none", "int8", "int4"} and result.available == 100 * GB


def test_available_memory_on_cpu_is_what_psutil_sees():
    free = available_memory("cpu")
    assert 0 < free <= psutil.virtual_memory().total
    with pytest.raises(ValueError):
        available_memory("tpu")
    with pytest.raises(ValueError):
        estimate(synthetic_12b(), "int3", 10)


def test_describe_lists_the_check(report, drafter):
    text = describe(report, fit_check(report, "int4", "cpu", 2048, drafter, available=100 * GB))
    assert f"Model:     gemma-4-tiny-it at {report.path}" in text
    assert f"Revision:  {report.revision}" in text and "2 shard(s) OK" in text
    assert "Drafter:   found: gemma-4-tiny-it-assistant" in text
    assert "cpu (bfloat16, 2048-token context, 100.0 GB free)" in text
    assert [line.split()[0] for line in text.splitlines() if "fits" in line][:3] == ["none", "int8", "int4"]
    assert text.splitlines()[-2].endswith("<- chosen") and "int4" in text.splitlines()[-2]
    no_drafter = describe(report, fit_check(report, "int4", "cpu", 2048, available=100 * GB))
    assert "Drafter:   not found" in no_drafter
