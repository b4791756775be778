"""Weight quantization with optimum-quanto, kept behind this one module so another backend can
replace it (optimum-quanto is in maintenance mode).

* ``quantization_config(scheme)`` quantizes while transformers loads the checkpoint, one weight at a
  time, so the whole bf16 model is never in memory at once.
* ``save_quantized`` / ``load_quantized`` keep a quantized copy in the user cache. transformers
  refuses ``save_pretrained`` on a quanto model, and quanto's own reload loses the vision embedder,
  so the copy is the state dict in safetensors shards + quanto's quantization map + the
  non-persistent buffers, and reloading builds the model on the meta device, re-applies the map and
  fills it shard by shard, taking the read tensors as the model's own (peak memory: the model).
  int4 weights in torch's int4 matmul layout are stored as that layout (``_state_dict``).

What stays unquantized, and why:
* the image and audio embedders (``model.embed_vision``, ``model.embed_audio``): 4-bit projections
  of raw patches and waveform frames are known to corrupt Gemma 4's image and audio input;
* the token embeddings and the tied ``lm_head``: embeddings are only gathered (one row a token),
  and quantizing the tied head would need a second, untied 262k x 3840 copy. ``bench`` measures
  what an int8 head would save per decoded token (see bench/README.md).
"""

import functools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

SCHEMES = ("int4", "int8", "none")
KEEP_UNQUANTIZED = ["lm_head", "model.embed_vision", "model.embed_audio"]
FORMAT_VERSION = 2  # 2: int4 weights in torch's int4 matmul layout are stored as that layout
_READABLE_FORMATS = (1, FORMAT_VERSION)  # a format-1 copy has no such weights: it loads as it did
SHARD_BYTES = 1 << 30
_MARKER = "quantization.json"


def quantization_config(scheme: str):
    """The transformers ``quantization_config`` for a scheme, or None for unquantized weights."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if scheme == "none":
        return None
    from transformers import QuantoConfig

    from inference import quant_kernels

    quant_kernels.prepare()
    return QuantoConfig(weights=scheme, modules_to_not_convert=list(KEEP_UNQUANTIZED))


def align_weights(model: torch.nn.Module) -> int:
    """Give every int8 weight 64-byte aligned storage; returns how many were copied.

    torch's CPU int8 kernel (``_weight_int8pack_mm``, which quanto uses for bf16 activations)
    reads with aligned vector loads and crashes the process on a weight that is not 64-byte
    aligned, as weights can be when materialized from a safetensors buffer (seen with torch 2.14.1).
    """
    moved = 0
    for module in model.modules():
        data = getattr(getattr(module, "weight", None), "_data", None)
        if isinstance(data, torch.Tensor) and data.dtype == torch.int8 and data.data_ptr() % 64:
            module.weight._data = data.clone()
            moved += 1
    return moved


def copy_dir(cache_root: Path, revision: str, scheme: str, dtype: torch.dtype) -> Path:
    """Where the quantized copy of one model revision lives (one folder per scheme and dtype)."""
    return Path(cache_root) / f"{revision[:16]}-{scheme}-{str(dtype).removeprefix('torch.')}"


def has_copy(folder: Path) -> bool:
    try:
        meta = json.loads((Path(folder) / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    if meta.get("format") not in _READABLE_FORMATS:
        return False
    layout = meta.get("tinygemm")
    return layout is None or layout.get("layout") == _tinygemm_layout()  # same torch, same CPU kind


def save_quantized(model: torch.nn.Module, folder: Path, scheme: str) -> None:
    """Write the quantized copy atomically: a crash mid-write leaves no half copy behind."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_copy(model, tmp, scheme)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a half copy must not keep a full disk full
        raise
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def _write_copy(model: torch.nn.Module, tmp: Path, scheme: str) -> None:
    from optimum.quanto import quantization_map
    from safetensors.torch import save_file

    tinygemm = _tinygemm_modules(model)
    state = _state_dict(model, tinygemm)
    if _tied(model):
        state.pop("lm_head.weight", None)  # restored by tie_weights() on load
    shards, current, size, owner = [], {}, 0, None
    for name, tensor in state.items():
        # A quantized weight is several tensors (weight._data, weight._scale...): quanto only
        # rebuilds it when a shard holds them all, so a shard never ends inside one weight.
        this_owner = name.split(".weight.", 1)[0]
        if size >= SHARD_BYTES and this_owner != owner:
            shards.append(current)
            current, size = {}, 0
        current[name] = tensor.detach().contiguous()
        size += tensor.numel() * tensor.element_size()
        owner = this_owner
    if current:
        shards.append(current)
    for i, shard in enumerate(shards):
        save_file(_unshare(shard), tmp / f"weights-{i:05d}.safetensors")
    buffers = {name: b.detach().contiguous() for name, b in _non_persistent_buffers(model)}
    save_file(_unshare(buffers), tmp / "buffers.safetensors")
    meta = {"format": FORMAT_VERSION, "scheme": scheme, "shards": len(shards),
            "map": quantization_map(model)}
    if tinygemm:
        meta["tinygemm"] = {"layout": _tinygemm_layout(), "modules": {
            name: {"size": list(m.weight.size()), "group": m.weight._group_size, "qtype": m.weight.qtype.name}
            for name, m in tinygemm.items()}}
    (tmp / _MARKER).write_text(json.dumps(meta))  # written last: its presence means complete


def load_quantized(folder: Path, config, model_class, dtype: torch.dtype) -> torch.nn.Module:
    """Rebuild a model from its quantized copy, on the CPU."""
    from optimum.quanto import QModuleMixin, QTensor, quantize
    from safetensors.torch import load_file

    from inference import quant_kernels

    quant_kernels.prepare()
    folder = Path(folder)
    meta = json.loads((folder / _MARKER).read_text())
    with torch.device("meta"):
        model = model_class._from_config(config, dtype=dtype)
    by_scheme: dict[str, list[str]] = {}
    for name, qconf in meta["map"].items():
        by_scheme.setdefault(qconf["weights"], []).append(name)
    for weights, names in by_scheme.items():
        quantize(model, weights=weights, include=names)
    model.to_empty(device="cpu")
    expected = set(model.state_dict())
    loaded: set[str] = set()
    packed: dict[str, torch.Tensor] = {}
    for i in range(meta["shards"]):
        loaded.update(_load_shard(model, folder / f"weights-{i:05d}.safetensors", packed))
    _set_tinygemm_weights(model, meta.get("tinygemm", {}).get("modules", {}), packed)
    for name, value in load_file(folder / "buffers.safetensors").items():
        owner, _, attr = name.rpartition(".")
        model.get_submodule(owner).register_buffer(attr, value, persistent=False)
    if _tied(model):
        model.tie_weights()
        loaded.add("lm_head.weight")
    missing = {k for k in expected - loaded if not _is_quanto_derived(k, loaded)}
    if missing:
        raise RuntimeError(f"the quantized copy misses {len(missing)} tensors, e.g. {sorted(missing)[:3]}")
    unbuilt = [name for name, module in model.named_modules()
               if isinstance(module, QModuleMixin) and not isinstance(module.weight, QTensor)]
    if unbuilt:  # its parts were there, but not in one shard (copies from before the fix)
        raise RuntimeError(f"the quantized copy holds {len(unbuilt)} incomplete weights, e.g. {unbuilt[:3]}")
    align_weights(model)
    return model.eval()


def _load_shard(model: torch.nn.Module, file: Path, packed: dict, group_bytes: int = 256 << 20) -> set[str]:
    """Fill ``model`` from one shard a few tensors at a time: holding a whole shard (the first is
    the 2 GB embedding of the 12B) on top of the model raised the load peak to 1.39x resident.
    int4 weights stored in torch's layout go to ``packed`` (``_set_tinygemm_weights`` uses them)."""
    from safetensors import safe_open

    names: set[str] = set()
    with safe_open(str(file), framework="pt") as reader:
        group, size, owner = {}, 0, None
        for name in reader.keys():
            this_owner = name.split(".weight.", 1)[0]  # a quantized weight's parts load together
            if size >= group_bytes and this_owner != owner:
                model.load_state_dict(group, strict=False, assign=True)
                group, size = {}, 0
            tensor = reader.get_tensor(name)
            names.add(name)
            if name.endswith(_TINYGEMM_PARTS):
                packed[name] = tensor  # kept as they are: they are the final weights
                continue
            group[name] = tensor
            size += tensor.numel() * tensor.element_size()
            owner = this_owner
        if group:
            model.load_state_dict(group, strict=False, assign=True)
    return names


def worth_saving(model: torch.nn.Module) -> bool:
    """False when int4 weights in torch's int4 matmul layout ("tinygemm") are not on the CPU.

    quanto can only save such a weight by unpacking it through a matmul with an identity matrix
    (3-6 s per 3840x15360 matrix here, 15-35 min for the 12B's 328), so the copy stores torch's
    packed layout as it is (``_state_dict``) and marks which layout it is (``_tinygemm_layout``):
    a copy made by another torch or on another kind of CPU is not used.
    """
    return all(m.weight._data._data.device.type == "cpu" for m in _tinygemm_modules(model).values())


_TINYGEMM_PARTS = (".weight._tinygemm_data", ".weight._tinygemm_scale_shift")


def _tinygemm_modules(model: torch.nn.Module) -> dict:
    from optimum.quanto.tensor.weights.tinygemm import TinyGemmWeightQBitsTensor

    return {name: m for name, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), TinyGemmWeightQBitsTensor)}


def _state_dict(model: torch.nn.Module, tinygemm: dict) -> dict:
    """``model.state_dict()``, with int4 weights in torch's layout as their packed bytes and
    scales (quanto's own state dict would unpack them through an identity matmul)."""
    state: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if name not in tinygemm:
            module._save_to_state_dict(state, prefix, False)  # its own tensors, not its children's
            continue
        weight = module.weight
        state[prefix + "weight._tinygemm_data"] = weight._data._data
        state[prefix + "weight._tinygemm_scale_shift"] = weight._scale_shift
        for attr in ("bias", "input_scale", "output_scale"):
            value = getattr(module, attr, None)
            if value is not None:
                state[prefix + attr] = value.detach()
    return state


def _set_tinygemm_weights(model: torch.nn.Module, modules: dict, packed: dict) -> None:
    from optimum.quanto import qtypes
    from optimum.quanto.tensor.weights.tinygemm import TinyGemmWeightQBitsTensor
    from optimum.quanto.tensor.weights.tinygemm.packed import TinyGemmPackedTensor

    for name, info in modules.items():
        data = packed.pop(f"{name}.weight._tinygemm_data")
        scale_shift = packed.pop(f"{name}.weight._tinygemm_scale_shift")
        size, stride = torch.Size(info["size"]), (info["size"][1], 1)
        weight = TinyGemmWeightQBitsTensor(qtypes[info["qtype"]], 0, info["group"], size, stride,
                                           TinyGemmPackedTensor(data, size, stride), scale_shift)
        model.get_submodule(name).weight = torch.nn.Parameter(weight, requires_grad=False)
    if packed:
        raise RuntimeError(f"the quantized copy holds int4 weights its marker does not list, e.g. {sorted(packed)[:2]}")


@functools.cache
def _tinygemm_layout() -> str:
    """A fingerprint of torch's CPU int4 layout here (it depends on the torch and the CPU)."""
    import hashlib

    probe = (torch.arange(128 * 256, dtype=torch.int32).reshape(128, 256) * 7 + 3) % 16
    try:
        packed = torch._convert_weight_to_int4pack_for_cpu(probe, innerKTiles=2)
    except (AttributeError, RuntimeError):
        return "none"
    return f"{torch.__version__}:{hashlib.sha256(packed.contiguous().numpy().tobytes()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Int4Routes:
    """How many int4 layers ``route_int4`` gave to Seesay's own kernels."""

    short: int = 0  # inputs of fewer than int4_int8.max_rows() rows: int4 x int8 (VNNI / AMX)
    long: int = 0  # longer inputs: unpacked to bf16, bf16 GEMM

    def __bool__(self) -> bool:
        return bool(self.short or self.long)


def route_int4(model: torch.nn.Module, *, short: bool = True, long: bool = True) -> Int4Routes:
    """Send int4 matmuls to Seesay's CPU kernels where they are faster than torch's own.

    Weights in torch's CPU int4 layout keep that layout; what changes is the kernel per call:
    inputs shorter than ``int4_int8.max_rows()`` (decoding, a follow-up, a second of audio; with
    AMX also a prefill) go to ``int4_int8.linear`` (int8 products: ~1.3x torch at one row, 7x at
    25), longer ones to ``int4_unpack.linear`` (bf16; ~8x torch at 450 rows). Without a prebuilt
    kernel, or where torch's layout is not the one a kernel reads, that side keeps torch's kernel.
    """
    from optimum.quanto import QModuleMixin
    from optimum.quanto.tensor.weights.tinygemm import TinyGemmWeightQBitsTensor

    from inference import int4_unpack, int4_int8

    use_short = short and int4_int8.available()
    use_long = long and int4_unpack.available()
    if not (use_short or use_long):
        return Int4Routes()
    counts = {"short": 0, "long": 0}
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if not (isinstance(module, QModuleMixin) and isinstance(weight, TinyGemmWeightQBitsTensor)
                and module.activation_qtype is None):
            continue
        packed, group = weight._data._data, weight._group_size
        to_short = use_short and int4_int8.supports(packed, group)
        to_long = use_long and int4_unpack.supports(packed, group)
        if to_short or to_long:
            module.forward = _routed_forward(module, module.forward, to_short, to_long)
            counts["short"] += to_short
            counts["long"] += to_long
    return Int4Routes(**counts)


def _routed_forward(module, packed_forward, short: bool, long: bool):
    from inference import int4_unpack, int4_int8

    short_below = int4_int8.max_rows(module.weight._group_size) if short else 0
    long_from = short_below or int4_unpack.MIN_ROWS

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.bfloat16:
            return packed_forward(x)
        rows, weight = x.numel() // x.shape[-1], module.weight
        if rows < short_below:
            return int4_int8.linear(x, weight._data._data, weight._scale_shift, weight._group_size, module.bias)
        if long and rows >= long_from:
            return int4_unpack.linear(x, weight._data._data, weight._scale_shift, weight._group_size, module.bias)
        return packed_forward(x)

    return forward


def route_int8(model: torch.nn.Module) -> int:
    """Send the matmuls of int8 layers to ``int8_linear.linear``, reading quanto's int8 weights
    and their scales as they are: ~1.4x torch's ``_weight_int8pack_mm`` (quanto's kernel) on one
    row, 2-2.7x on a prompt. Other dtypes and autograd keep quanto's path. Returns how many."""
    from optimum.quanto import QModuleMixin
    from optimum.quanto.tensor.weights.qbytes import WeightQBytesTensor

    from inference import int8_linear

    if not int8_linear.available():
        return 0
    routed = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if (isinstance(module, QModuleMixin) and type(weight) is WeightQBytesTensor and module.activation_qtype is None
                and weight.axis == 0 and weight._data.dtype == torch.int8 and weight._data.dim() == 2
                and weight._data.device.type == "cpu" and weight._scale.dtype == torch.bfloat16
                and weight._scale.numel() == weight._data.shape[0]):
            module.forward = _int8_forward(module, module.forward)
            routed += 1
    return routed


def _int8_forward(module, quanto_forward):
    from inference import int8_linear

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight, bias = module.weight, module.bias
        if x.dtype == torch.bfloat16 and not torch.is_grad_enabled() and (bias is None or bias.dtype == torch.bfloat16):
            return int8_linear.linear(x, weight._data.contiguous(), weight._scale.contiguous(), bias)
        return quanto_forward(x)

    return forward


def _is_quanto_derived(key: str, loaded: set[str]) -> bool:
    # A quantized weight is stored as weight._data / weight._scale / ...; its module reports "weight".
    return any(k.startswith(key + ".") for k in loaded) or key.endswith(("input_scale", "output_scale"))


def _tied(model) -> bool:
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return bool(getattr(text, "tie_word_embeddings", False) or getattr(model.config, "tie_word_embeddings", False))


def _non_persistent_buffers(model: torch.nn.Module):
    for module_name, module in model.named_modules():
        for attr in getattr(module, "_non_persistent_buffers_set", ()):
            buf = module._buffers.get(attr)
            if buf is not None:
                yield (f"{module_name}.{attr}" if module_name else attr), buf


def _unshare(tensors: dict) -> dict:
    """safetensors refuses tensors that share memory: give each its own storage."""
    seen, out = set(), {}
    for name, t in tensors.items():
        ptr = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else None
        out[name] = t.clone() if ptr in seen else t
        if ptr is not None:
            seen.add(ptr)
    return out
