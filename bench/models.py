"""The two models the benchmarks run: the tiny test checkpoint and a slice of the real 12B.

* ``tiny``: ``tests/tiny_checkpoint.py``'s random checkpoint (hidden 64), for mechanics only.
* ``slice``: a random-weight ``Gemma4UnifiedForConditionalGeneration`` with Gemma 4 12B's real
  widths (``SLICE_TEXT``, from google/gemma-4-12B's config.json), its 262144 x 3840 tied
  embedding / head, its image and audio embedders, its 5 sliding : 1 full layer pattern, but only
  ``layers`` of its 48 layers. Every per-layer and per-token cost is the real one, so the full
  model's figures are projected as ``per-layer time x 48 + embedding/head/loop time``
  (``timing.project_layers``). Beside it, a drafter with the real 12B assistant's shape.

The model is built on the meta device, then given bf16 storage; big matrices get N(0, 0.02)
values copied from one random block (``_Noise``), small tensors their real init (the default
initialisation of 1.5 B parameters takes ~50 s on 2 cores; this ~1 s), and it is written with
``save_pretrained``. The tokenizer and processor are the tiny checkpoint's:
token ids < 512 simply index the big embedding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FULL_LAYERS = 48
SLIDING_PER_FULL = 5  # 5 sliding-window layers, then one full-attention layer

# google/gemma-4-12B config.json, text_config (transformers 5.24 names).
SLICE_TEXT = dict(
    vocab_size=262_144, hidden_size=3840, intermediate_size=15_360,
    num_attention_heads=16, num_key_value_heads=8, head_dim=256,
    global_head_dim=512, num_global_key_value_heads=1, attention_k_eq_v=True,
    sliding_window=1024, final_logit_softcapping=30.0, max_position_embeddings=262_144,
    hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, tie_word_embeddings=True,
)
# google/gemma-4-12B-it-assistant config.json (the MTP drafter).
DRAFTER_TEXT = dict(
    vocab_size=262_144, hidden_size=1024, intermediate_size=8192,
    num_attention_heads=16, num_key_value_heads=8, head_dim=256,
    global_head_dim=512, num_global_key_value_heads=1, attention_k_eq_v=True,
    sliding_window=1024, final_logit_softcapping=None, max_position_embeddings=262_144,
    rms_norm_eps=1e-6, tie_word_embeddings=True,
)
DRAFTER_LAYERS = ["sliding_attention"] * 3 + ["full_attention"]
_BIG = 1 << 16  # parameters with more elements than this get random values; the rest keep their init


@dataclass(frozen=True)
class Checkpoint:
    name: str  # "tiny" or "slice"
    model_dir: Path
    assistant_dir: Path | None
    layer_types: tuple[str, ...]  # of the saved model
    full_layers: int  # how many layers the real model has (for projections)

    @property
    def counts(self) -> dict[str, int]:
        return {kind: self.layer_types.count(kind) for kind in set(self.layer_types)}


def slice_layer_types(layers: int) -> list[str]:
    """The last ``layers`` layers of the real 48-layer pattern (so the slice ends with a full one)."""
    if not 2 <= layers <= FULL_LAYERS:
        raise ValueError(f"a slice has 2 to {FULL_LAYERS} layers (one sliding and one full at least)")
    return real_layer_types()[-layers:]


def real_layer_types() -> list[str]:
    return (["sliding_attention"] * SLIDING_PER_FULL + ["full_attention"]) * (FULL_LAYERS // (SLIDING_PER_FULL + 1))


def full_pattern() -> dict[str, int]:
    kinds = real_layer_types()
    return {kind: kinds.count(kind) for kind in set(kinds)}


def build_tiny(root: Path) -> Checkpoint:
    from tests.tiny_checkpoint import build_tiny_checkpoint

    ckpt = build_tiny_checkpoint(Path(root))
    kinds = json.loads((ckpt.model_dir / "config.json").read_text())["text_config"]["layer_types"]
    return Checkpoint("tiny", ckpt.model_dir, ckpt.assistant_dir, tuple(kinds), len(kinds))


def build_slice(root: Path, layers: int, *, drafter: bool = True, seed: int = 0) -> Checkpoint:
    """Write the 12B-shaped slice (and its drafter) under ``root``; reuse it if already there."""
    import transformers as tf

    from tests.tiny_checkpoint import build_processor, build_tokenizer

    root = Path(root)
    kinds = slice_layer_types(layers)
    model_dir = root / f"gemma-4-12B-slice{layers}-it"
    assistant_dir = root / (model_dir.name + "-assistant")
    done = model_dir / "bench-complete"
    if done.is_file() and (assistant_dir.is_dir() or not drafter):
        return Checkpoint("slice", model_dir, assistant_dir if drafter else None, tuple(kinds), FULL_LAYERS)

    tok = build_tokenizer()
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    text = tf.Gemma4UnifiedTextConfig(num_hidden_layers=layers, layer_types=kinds, **SLICE_TEXT, **ids)
    config = tf.Gemma4UnifiedConfig(
        text_config=text, vision_config=tf.Gemma4UnifiedVisionConfig(), audio_config=tf.Gemma4UnifiedAudioConfig(),
        image_token_id=tok.image_token_id, boi_token_id=tok.boi_token_id, eoi_token_id=tok.eoi_token_id,
        audio_token_id=tok.audio_token_id, boa_token_id=tok.boa_token_id, eoa_token_index=tok.eoa_token_id,
        video_token_id=tok.video_token_id, tie_word_embeddings=True,
    )
    stop_ids = [tok.eos_token_id, tok.eot_token_id, tok.str_token_id]
    noise = _Noise(seed)
    model = _random_model(tf.Gemma4UnifiedForConditionalGeneration, config, noise)
    model.generation_config = tf.GenerationConfig(
        bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, eos_token_id=stop_ids,
        do_sample=True, top_k=64, top_p=0.95, temperature=1.0)
    model.save_pretrained(model_dir, max_shard_size="1GB")
    del model
    build_processor(tok).save_pretrained(model_dir)
    if drafter:
        dtext = tf.Gemma4UnifiedTextConfig(num_hidden_layers=len(DRAFTER_LAYERS), layer_types=DRAFTER_LAYERS,
                                           **DRAFTER_TEXT, **ids)
        dconfig = tf.Gemma4UnifiedAssistantConfig(text_config=dtext, backbone_hidden_size=SLICE_TEXT["hidden_size"])
        assistant = _random_model(tf.Gemma4UnifiedAssistantForCausalLM, dconfig, noise)
        # num_assistant_tokens is left unset, as in a download: the loader chooses the draft length.
        assistant.generation_config = tf.GenerationConfig(
            bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, eos_token_id=stop_ids)
        assistant.save_pretrained(assistant_dir, max_shard_size="1GB")
        tok.save_pretrained(assistant_dir)
    done.write_text("ok")
    return Checkpoint("slice", model_dir, assistant_dir if drafter else None, tuple(kinds), FULL_LAYERS)


def _random_model(model_class, config, noise: "_Noise"):
    """``model_class(config)`` in bf16 with N(0, 0.02) weights, without the slow default init."""
    import torch

    with torch.device("meta"):
        model = model_class._from_config(config, dtype=torch.bfloat16)
    model.to_empty(device="cpu")
    for module in model.modules():
        own = list(module.named_parameters(recurse=False))
        if any(p.numel() > _BIG for _, p in own):
            for name, p in own:
                with torch.no_grad():
                    if p.numel() > _BIG:
                        noise.fill(p)
                    else:
                        p.zero_()  # biases of big projections
        else:
            model._init_weights(module)  # norms, small buffers, rotary tables: their real init
    model.tie_weights()
    return model.eval()


class _Noise:
    """N(0, 0.02) values for big tensors, fast: one 2^24-value random block, copied from a random
    offset. Drawing 1.5 B fresh normals takes 10-30 s on 2 cores; timings do not depend on which
    random values the weights hold."""

    def __init__(self, seed: int, size: int = 1 << 24):
        import torch

        self.generator = torch.Generator().manual_seed(seed)
        self.block = torch.randn(2 * size, generator=self.generator).mul_(0.02).to(torch.bfloat16)
        self.size = size

    def fill(self, tensor) -> None:
        import torch

        flat = tensor.view(-1)
        for start in range(0, flat.numel(), self.size):
            n = min(self.size, flat.numel() - start)
            offset = int(torch.randint(self.size, (1,), generator=self.generator))
            flat[start:start + n].copy_(self.block[offset:offset + n])
