"""The quantized copy: what is quantized, how the copy is written (atomically, in shards) and read
back into an identical model, and the int8 alignment workaround."""

import json

import pytest
import torch
from transformers import AutoConfig, Gemma4UnifiedForConditionalGeneration

from inference import quant
from inference.quant import (
    KEEP_UNQUANTIZED, align_weights, copy_dir, has_copy, load_quantized, quantization_config, save_quantized,
)

DTYPE = torch.bfloat16


def quantized_model(tiny, scheme: str):
    return Gemma4UnifiedForConditionalGeneration.from_pretrained(
        tiny.model_dir, dtype=DTYPE, quantization_config=quantization_config(scheme), local_files_only=True,
    ).eval()


@pytest.fixture(scope="module", params=["int4", "int8"])
def scheme_model(request, tiny):
    return request.param, quantized_model(tiny, request.param)


@pytest.fixture(scope="module")
def config(tiny):
    return AutoConfig.from_pretrained(tiny.model_dir, local_files_only=True)


def logits(model) -> torch.Tensor:
    ids = torch.tensor([[2, 5, 40, 41, 42, 43, 6, 5, 50]])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].float()


def test_the_schemes_map_to_quanto_configs_that_keep_the_embedders():
    assert quantization_config("none") is None
    for scheme in ("int4", "int8"):
        config = quantization_config(scheme)
        assert config.weights == scheme
        assert set(config.modules_to_not_convert) == set(KEEP_UNQUANTIZED)
    assert {"lm_head", "model.embed_vision", "model.embed_audio"} <= set(KEEP_UNQUANTIZED)
    with pytest.raises(ValueError, match="int2"):
        quantization_config("int2")


def test_each_revision_scheme_and_dtype_has_its_own_copy_folder(tmp_path):
    base = copy_dir(tmp_path, "local-0123456789abcdef0123", "int4", torch.bfloat16)
    assert base.parent == tmp_path and base.name == "local-0123456789-int4-bfloat16"
    others = {copy_dir(tmp_path, "local-fedcba9876", "int4", torch.bfloat16),
              copy_dir(tmp_path, "local-0123456789abcdef0123", "int8", torch.bfloat16),
              copy_dir(tmp_path, "local-0123456789abcdef0123", "int4", torch.float32)}
    assert base not in others and len(others) == 3


def test_the_saved_map_lists_exactly_the_decoder_projections(tmp_path, scheme_model):
    scheme, model = scheme_model
    save_quantized(model, tmp_path / "copy", scheme)
    meta = json.loads((tmp_path / "copy" / "quantization.json").read_text())
    assert meta["format"] == quant.FORMAT_VERSION and meta["scheme"] == scheme
    projections = {n for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and ".layers." in n and n.endswith("_proj")}
    assert projections and set(meta["map"]) == projections
    assert {conf["weights"] for conf in meta["map"].values()} == {f"q{scheme}"}
    assert not [n for n in meta["map"] if n.startswith(tuple(KEEP_UNQUANTIZED))]


def test_a_reloaded_copy_is_the_same_model(tmp_path, scheme_model, config):
    scheme, model = scheme_model
    save_quantized(model, tmp_path / "copy", scheme)
    assert has_copy(tmp_path / "copy")
    reloaded = load_quantized(tmp_path / "copy", config, Gemma4UnifiedForConditionalGeneration, DTYPE)
    assert not reloaded.training
    torch.testing.assert_close(logits(reloaded), logits(model), rtol=0, atol=1e-3)
    original, again = model.state_dict(), reloaded.state_dict()
    assert set(original) == set(again)
    for name, tensor in original.items():
        assert torch.equal(again[name], tensor), name
    # Non-persistent buffers (not in the state dict) came back too, e.g. rotary frequencies.
    originals = dict(quant._non_persistent_buffers(model))
    assert originals
    for name, buffer in quant._non_persistent_buffers(reloaded):
        assert torch.equal(buffer, originals[name]), name
    # The tied head is stored once and tied again on load.
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.language_model.embed_tokens.weight.data_ptr()


def test_the_tied_head_is_not_stored_twice(tmp_path, scheme_model):
    from safetensors import safe_open

    scheme, model = scheme_model
    save_quantized(model, tmp_path / "copy", scheme)
    with safe_open(tmp_path / "copy" / "weights-00000.safetensors", "pt") as shard:
        keys = set(shard.keys())
    assert "lm_head.weight" not in keys and "model.language_model.embed_tokens.weight" in keys


def test_a_large_model_is_written_in_several_shards(tmp_path, monkeypatch, tiny, config):
    model = quantized_model(tiny, "int8")
    monkeypatch.setattr(quant, "SHARD_BYTES", 64 << 10)
    save_quantized(model, tmp_path / "copy", "int8")
    meta = json.loads((tmp_path / "copy" / "quantization.json").read_text())
    shards = sorted(p.name for p in (tmp_path / "copy").glob("weights-*.safetensors"))
    assert meta["shards"] == len(shards) > 2
    reloaded = load_quantized(tmp_path / "copy", config, Gemma4UnifiedForConditionalGeneration, DTYPE)
    torch.testing.assert_close(logits(reloaded), logits(model), rtol=0, atol=1e-3)


def test_saving_replaces_the_old_copy_and_leftovers(tmp_path, scheme_model):
    scheme, model = scheme_model
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "stale.safetensors").write_bytes(b"old")
    (tmp_path / "copy.partial").mkdir()  # left by a crash during an earlier save
    save_quantized(model, folder, scheme)
    assert not (folder / "stale.safetensors").exists()
    assert not (tmp_path / "copy.partial").exists()
    assert has_copy(folder)


def test_a_crash_while_saving_leaves_the_previous_copy_usable(tmp_path, monkeypatch, scheme_model, config):
    import safetensors.torch

    scheme, model = scheme_model
    folder = tmp_path / "copy"
    save_quantized(model, folder, scheme)
    before = sorted(p.name for p in folder.iterdir())
    real_save, calls = safetensors.torch.save_file, []

    def save_then_crash(*args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", save_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_quantized(model, folder, scheme)
    assert sorted(p.name for p in folder.iterdir()) == before and has_copy(folder)
    monkeypatch.undo()
    load_quantized(folder, config, Gemma4UnifiedForConditionalGeneration, DTYPE)


def test_has_copy_needs_the_marker_of_this_format(tmp_path):
    folder = tmp_path / "copy"
    assert not has_copy(folder)
    folder.mkdir()
    assert not has_copy(folder)
    (folder / "quantization.json").write_text("{broken")
    assert not has_copy(folder)
    (folder / "quantization.json").write_text(json.dumps({"format": quant.FORMAT_VERSION + 1}))
    assert not has_copy(folder)
    (folder / "quantization.json").write_text(json.dumps({"format": quant.FORMAT_VERSION}))
    assert has_copy(folder)
    (folder / "quantization.json").write_text(json.dumps({"format": 1}))  # int8 copies users already have
    assert has_copy(folder)


def test_a_copy_missing_tensors_is_refused_on_load(tmp_path, scheme_model, config):
    from safetensors.torch import load_file, save_file

    scheme, model = scheme_model
    folder = tmp_path / "copy"
    save_quantized(model, folder, scheme)
    shard = load_file(folder / "weights-00000.safetensors")
    del shard["model.language_model.norm.weight"]
    save_file(shard, folder / "weights-00000.safetensors")
    with pytest.raises(RuntimeError, match="misses 1 tensors"):
        load_quantized(folder, config, Gemma4UnifiedForConditionalGeneration, DTYPE)


def test_a_copy_whose_weight_parts_lie_in_different_shards_is_refused(tmp_path, scheme_model, config):
    """quanto rebuilds a weight only from one shard holding all its parts; copies written before
    shards kept them together would otherwise load with uninitialised weights."""
    from safetensors.torch import load_file, save_file

    scheme, model = scheme_model
    folder = tmp_path / "copy"
    save_quantized(model, folder, scheme)
    state = load_file(folder / "weights-00000.safetensors")
    part = "model.language_model.layers.1.mlp.down_proj.weight._scale"
    save_file({k: v for k, v in state.items() if k != part}, folder / "weights-00000.safetensors")
    save_file({part: state[part]}, folder / "weights-00001.safetensors")
    meta = json.loads((folder / "quantization.json").read_text())
    (folder / "quantization.json").write_text(json.dumps({**meta, "shards": 2}))
    with pytest.raises(RuntimeError, match="incomplete weights.*layers.1.mlp.down_proj"):
        load_quantized(folder, config, Gemma4UnifiedForConditionalGeneration, DTYPE)


def test_misaligned_int8_weights_get_aligned_storage():
    from optimum.quanto import freeze, qint8, quantize

    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Linear(32, 16))
    quantize(model, weights=qint8)
    freeze(model)
    weight = model[0].weight
    values = weight._data.clone()
    buffer = torch.zeros(values.numel() + 128, dtype=torch.int8)
    offset = next(i for i in range(1, 64) if (buffer.data_ptr() + i) % 64)  # a misaligned start
    misaligned = buffer[offset:offset + values.numel()].view(values.shape)
    misaligned.copy_(values)
    weight._data = misaligned
    aligned_before = model[1].weight._data.data_ptr() % 64 == 0

    moved = align_weights(model)
    assert moved == (1 if aligned_before else 2)
    assert model[0].weight._data.data_ptr() % 64 == 0
    assert torch.equal(model[0].weight._data, values)
    assert align_weights(model) == 0


def test_shared_storage_is_split_for_safetensors():
    base = torch.arange(8.0)
    tensors = {"a": base, "b": base, "c": base[4:], "d": torch.ones(2)}
    out = quant._unshare(tensors)
    assert out["a"] is base and out["b"] is not base and torch.equal(out["b"], base)
    assert out["c"] is tensors["c"]  # a different offset into the storage: not the same tensor
    assert out["d"] is tensors["d"]


def test_int4_in_torch_matmul_layout_is_saved_as_that_layout_and_reloaded_exactly(tmp_path, monkeypatch):
    """quanto's own state dict would unpack each such weight through an identity matmul (minutes
    for the 12B): the copy holds torch's packed bytes and scales instead, and loads back into
    the same weights, bit for bit."""
    from optimum.quanto.tensor.weights.tinygemm import TinyGemmWeightQBitsTensor

    from tests.tiny_checkpoint import build_tiny_checkpoint

    wide = build_tiny_checkpoint(tmp_path / "wide", hidden_size=128)
    model = quantized_model(wide, "int4")
    tinygemm = quant._tinygemm_modules(model)
    assert len(tinygemm) >= 4 and quant.worth_saving(model)

    def never(*_args, **_kwargs):
        raise AssertionError("unpacked through quanto's identity matmul")

    monkeypatch.setattr(TinyGemmWeightQBitsTensor, "weight_qbits_tensor", never)
    save_quantized(model, tmp_path / "copy", "int4")
    meta = json.loads((tmp_path / "copy" / "quantization.json").read_text())
    assert set(meta["tinygemm"]["modules"]) == set(tinygemm) and has_copy(tmp_path / "copy")

    config = AutoConfig.from_pretrained(wide.model_dir, local_files_only=True)
    reloaded = load_quantized(tmp_path / "copy", config, Gemma4UnifiedForConditionalGeneration, DTYPE)
    for name, module in quant._tinygemm_modules(reloaded).items():
        original = tinygemm[name].weight
        assert torch.equal(module.weight._data._data, original._data._data), name
        assert torch.equal(module.weight._scale_shift, original._scale_shift), name
        assert module.weight.size() == original.size() and module.weight._group_size == original._group_size
    assert set(quant._tinygemm_modules(reloaded)) == set(tinygemm)
    torch.testing.assert_close(logits(reloaded), logits(model), rtol=0, atol=0)

    # A copy from another torch or another kind of CPU (another packed layout) is not used.
    meta["tinygemm"]["layout"] = "2.0.0:0123456789abcdef"
    (tmp_path / "copy" / "quantization.json").write_text(json.dumps(meta))
    assert not has_copy(tmp_path / "copy")


def test_int8_weights_are_worth_saving():
    from optimum.quanto import freeze, qint8, quantize

    model = torch.nn.Sequential(torch.nn.Linear(256, 256)).to(torch.bfloat16)
    quantize(model, weights=qint8)
    freeze(model)
    assert quant.worth_saving(model)
