"""Build a tiny random-weight Gemma 4 "unified" (encoder-free) checkpoint for tests.

Everything is made with the real transformers classes, so code under test runs the
same loading / quantizing / prompting / streaming paths as with a real snapshot:

* ``gemma-4-tiny-it/`` - ``Gemma4UnifiedForConditionalGeneration`` saved as two
  safetensors shards + index, a byte-level BPE tokenizer carrying Gemma 4's special
  tokens (``<|turn>``/``<turn|>``, ``<|image>``/``<|image|>``/``<image|>``, ...), the
  ``Gemma4UnifiedProcessor`` files, a Gemma-4-style ``chat_template.jinja`` and a
  ``generation_config.json`` whose ``eos_token_id`` includes ``<turn|>``.
* ``gemma-4-tiny-it-assistant/`` (beside it, like ``gemma-4-12B-it-assistant``) -
  a ``Gemma4UnifiedAssistantForCausalLM`` drafter sharing the vocabulary, with
  ``generation_config.num_assistant_tokens`` set.

The text model is tiny (hidden 64, 4 layers, sliding window 32) but keeps the real
structure: sliding + full attention layers (last one full), the vision patch
embedder (default 48x48 model patches) and the raw-waveform audio embedder
(640 samples per token). Same seed -> same weights. Run this file to smoke-test it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Tokenizer attribute -> token text (names as in the real Gemma 4 tokenizer_config.json).
# Ids follow this order: <pad>=0, <eos>=1, <bos>=2, like the real vocabulary.
SPECIAL_TOKENS = {
    "pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>",
    "mask_token": "<mask>", "sot_token": "<|turn>", "eot_token": "<turn|>",
    "boi_token": "<|image>", "image_token": "<|image|>", "eoi_token": "<image|>",
    "boa_token": "<|audio>", "audio_token": "<|audio|>", "eoa_token": "<audio|>",
    "video_token": "<|video|>", "soc_token": "<|channel>", "eoc_token": "<channel|>",
    "think_token": "<|think|>", "escape_token": '<|"|>',
    "stc_token": "<|tool_call>", "etc_token": "<tool_call|>",
    "std_token": "<|tool>", "etd_token": "<tool|>",
    "str_token": "<|tool_response>", "etr_token": "<tool_response|>",
}
STANDARD = ("pad_token", "eos_token", "bos_token", "unk_token", "mask_token")

# Gemma 4 (12B-it style) chat format: <bos><|turn>user\n...<turn|>\n<|turn>model\n
# Media items become the processor's placeholder tokens, in order; the processor
# expands them to <|image><|image|>*N<image|> / <|audio><|audio|>*N<audio|>.
CHAT_TEMPLATE = """{{- bos_token -}}
{%- macro render(content) -%}
{%- if content is string -%}{{- content | trim -}}
{%- else -%}{%- for item in content -%}
{%- if item['type'] == 'text' -%}{{- item['text'] | trim -}}
{%- elif item['type'] == 'image' -%}{{- '<|image|>' -}}
{%- elif item['type'] == 'audio' -%}{{- '<|audio|>' -}}
{%- elif item['type'] == 'video' -%}{{- '<|video|>' -}}
{%- endif -%}{%- endfor -%}{%- endif -%}
{%- endmacro -%}
{%- set loop_messages = messages -%}
{%- if enable_thinking or (messages and messages[0]['role'] in ['system', 'developer']) -%}
{{- '<|turn>system\\n' -}}
{%- if enable_thinking -%}{{- '<|think|>\\n' -}}{%- endif -%}
{%- if messages and messages[0]['role'] in ['system', 'developer'] -%}
{{- render(messages[0]['content']) -}}
{%- set loop_messages = messages[1:] -%}
{%- endif -%}
{{- '<turn|>\\n' -}}
{%- endif -%}
{%- for message in loop_messages -%}
{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
{{- '<|turn>' + role + '\\n' -}}{{- render(message['content']) -}}{{- '<turn|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|turn>model\\n' -}}
{%- if not enable_thinking | default(false) -%}{{- '<|channel>thought\\n<channel|>' -}}{%- endif -%}
{%- endif -%}"""

CORPUS = [
    "The quick brown fox jumps over the lazy dog. Hello! How can I help you today?",
    "Describe the picture and tell me what you hear in the recording, please.",
    "What is in this image? A cat is sitting on a red chair near the window.",
    "Summarize the text, translate it, and answer the question briefly. The sky is blue.",
    "user model system assistant image audio video screenshot microphone offline desktop",
    "Numbers 0 1 2 3 4 5 6 7 8 9 10 100 2024, punctuation: ; - ( ) [ ] { } \" '",
]
VOCAB_SIZE = 512  # model vocab (>= tokenizer size, like the real padded embedding)
MODEL_DIR_NAME = "gemma-4-tiny-it"
ASSISTANT_DIR_NAME = "gemma-4-tiny-it-assistant"


@dataclass(frozen=True)
class TinyCheckpoint:
    model_dir: Path
    assistant_dir: Path


def build_tokenizer():
    """Byte-level BPE trained on CORPUS, wrapped with Gemma 4's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(SPECIAL_TOKENS.values())
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        **{k: SPECIAL_TOKENS[k] for k in STANDARD},
        extra_special_tokens={k: v for k, v in SPECIAL_TOKENS.items() if k not in STANDARD},
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
        model_max_length=8192,
    )


def _text_config_kwargs(tok, hidden_size: int) -> dict:
    return dict(
        vocab_size=VOCAB_SIZE, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, global_head_dim=32,
        max_position_embeddings=8192, sliding_window=32,
        final_logit_softcapping=30.0,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )


def build_model_config(tok, hidden_size: int = 64):
    import transformers as tf

    text = tf.Gemma4UnifiedTextConfig(
        num_hidden_layers=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        **_text_config_kwargs(tok, hidden_size=hidden_size),
    )
    # The patch embedder's hidden states (mm_embed_dim) feed the multimodal projector,
    # whose input width is output_proj_dims: the two must be equal.
    vision = tf.Gemma4UnifiedVisionConfig(mm_embed_dim=64, output_proj_dims=64)  # 48x48 patches
    audio = tf.Gemma4UnifiedAudioConfig()  # 640 raw samples per soft token
    return tf.Gemma4UnifiedConfig(
        text_config=text, vision_config=vision, audio_config=audio,
        image_token_id=tok.image_token_id, boi_token_id=tok.boi_token_id, eoi_token_id=tok.eoi_token_id,
        audio_token_id=tok.audio_token_id, boa_token_id=tok.boa_token_id, eoa_token_index=tok.eoa_token_id,
        video_token_id=tok.video_token_id, tie_word_embeddings=True,
    )


def build_assistant_config(tok, model_config):
    from transformers import Gemma4UnifiedAssistantConfig, Gemma4UnifiedTextConfig

    # The drafter owns no K/V projections: every layer reads the target's last
    # sliding/full K/V, so head dims and KV-head counts must match the target.
    text = Gemma4UnifiedTextConfig(
        num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"],
        **_text_config_kwargs(tok, hidden_size=32),
    )
    return Gemma4UnifiedAssistantConfig(text_config=text, backbone_hidden_size=model_config.text_config.hidden_size)


def build_processor(tok):
    import transformers as tf

    return tf.Gemma4UnifiedProcessor(
        feature_extractor=tf.Gemma4UnifiedAudioFeatureExtractor(),  # 16 kHz, 640 samples per token
        image_processor=tf.Gemma4UnifiedImageProcessor(),  # max_soft_tokens=280 by default
        tokenizer=tok,
        video_processor=tf.Gemma4UnifiedVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_checkpoint(root: Path, *, seed: int = 0, dtype: str = "float32",
                          hidden_size: int = 64) -> TinyCheckpoint:
    """Write the tiny model + drafter under ``root`` and return their folders.

    ``dtype="bfloat16"`` stores the weights like a real release; the float32 default
    keeps greedy and assisted generation bit-identical (bf16 rounding may flip a near tie).
    ``hidden_size=128`` makes the MLP matrices big enough for torch's int4 CPU layout (whole
    64-row blocks, 128-wide quantization groups), as every matrix of the real model is.
    """
    import torch
    from transformers import Gemma4UnifiedAssistantForCausalLM, Gemma4UnifiedForConditionalGeneration
    from transformers import GenerationConfig

    root = Path(root)
    model_dir, assistant_dir = root / MODEL_DIR_NAME, root / ASSISTANT_DIR_NAME
    tok = build_tokenizer()
    assert len(tok) <= VOCAB_SIZE
    # Generation stops at end of turn (<turn|>), like the real generation_config.
    stop_ids = [tok.eos_token_id, tok.eot_token_id, tok.str_token_id]

    config = build_model_config(tok, hidden_size)
    torch.manual_seed(seed)
    model = Gemma4UnifiedForConditionalGeneration(config).eval().to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, eos_token_id=stop_ids,
        do_sample=True, top_k=64, top_p=0.95, temperature=1.0,  # sampling defaults, as released
    )
    # Largest tensor (patch_dense) is ~54% of the weights: 60% shards -> exactly 2 + index.
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    model.save_pretrained(model_dir, max_shard_size=int(0.6 * size))
    build_processor(tok).save_pretrained(model_dir)  # also writes the tokenizer + chat template

    torch.manual_seed(seed + 1)
    assistant = Gemma4UnifiedAssistantForCausalLM(build_assistant_config(tok, config))
    assistant = assistant.eval().to(getattr(torch, dtype))
    assistant.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, eos_token_id=stop_ids,
        num_assistant_tokens=3, num_assistant_tokens_schedule="constant",
    )
    assistant.save_pretrained(assistant_dir)
    tok.save_pretrained(assistant_dir)
    return TinyCheckpoint(model_dir=model_dir, assistant_dir=assistant_dir)


def _smoke(root: Path) -> None:
    import time

    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, TextIteratorStreamer

    t0 = time.perf_counter()
    ckpt = build_tiny_checkpoint(root)
    print(f"built in {time.perf_counter() - t0:.2f}s:", sorted(p.name for p in ckpt.model_dir.iterdir()))
    processor = AutoProcessor.from_pretrained(ckpt.model_dir, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(ckpt.model_dir, local_files_only=True).eval()
    assistant = AutoModelForCausalLM.from_pretrained(ckpt.assistant_dir, local_files_only=True).eval()
    print(type(model).__name__, model.dtype, "+", type(assistant).__name__)

    image = Image.new("RGB", (640, 400), (200, 30, 40))
    # Raw waveform must already be 16 kHz mono float32: nothing resamples a numpy array.
    audio = (0.1 * np.sin(np.arange(32_000) * 2 * np.pi * 440 / 16_000)).astype(np.float32)
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant."}]},
        {"role": "user", "content": [
            {"type": "image", "image": image},
            {"type": "audio", "audio": audio},
            {"type": "text", "text": "Describe the picture and the sound."},
        ]},
    ]
    inputs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
        processor_kwargs={"max_soft_tokens": 280},  # image budget: 70, 140, 280, 560 or 1120
    )
    for key, value in inputs.items():
        print(f"  {key}: {tuple(value.shape)} {value.dtype}")
    ids = inputs["input_ids"][0]
    print("  image soft tokens:", int((ids == model.config.image_token_id).sum()),
          "audio soft tokens:", int((ids == model.config.audio_token_id).sum()))

    with torch.no_grad():
        t0 = time.perf_counter()
        plain = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        t1 = time.perf_counter()
        assisted = model.generate(**inputs, max_new_tokens=8, do_sample=False, assistant_model=assistant)
        t2 = time.perf_counter()
        streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        model.generate(**inputs, max_new_tokens=8, do_sample=False, streamer=streamer)
    new = plain[0, ids.shape[0]:]
    print(f"greedy {tuple(plain.shape)} in {t1 - t0:.3f}s:", new.tolist(), repr(processor.decode(new)))
    print(f"assisted {tuple(assisted.shape)} in {t2 - t1:.3f}s, equals greedy:", torch.equal(plain, assisted))
    print("streamed:", list(streamer))
    assert torch.equal(plain, assisted)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _smoke(Path(tmp))
