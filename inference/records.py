"""The engine's plain records: how to answer (``GenerationSettings``), what an answer reports
(``Response``, ``Stats``) and what is loaded (``EngineInfo``). No torch here.

They live apart from the modules that run the model because the desktop's GUI process builds and
reads them while the engine runs in a process of its own (app/engine_process.py): they cross the
pipe as pickles, and unpickling one imports only this module. ``inference.generate`` and
``inference.engine`` re-export them, so scripts keep importing them from there.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 1024
    temperature: float = 1.0  # Gemma 4's own defaults
    top_p: float = 0.95
    top_k: int = 64
    greedy: bool = False
    seed: int | None = None
    use_draft: bool = True
    image_detail: int = 280


@dataclass
class Stats:
    prompt_tokens: dict[str, int] = field(default_factory=dict)  # whole prompt, per modality
    prefilled_tokens: int = 0  # prompt tokens run through the model for this answer
    reused_tokens: int = 0  # prompt tokens taken from the conversation's KV cache
    generated_tokens: int = 0
    time_to_first_token_s: float = 0.0
    prefill_tokens_per_s: float = 0.0
    tokens_per_s: float = 0.0  # decoding, after the first token
    peak_memory_bytes: int = 0
    target_steps: int = 0  # forward passes of the big model while decoding
    drafted_tokens: int = 0  # proposed by the MTP drafter
    accepted_tokens: int = 0  # of those, kept


@dataclass(frozen=True)
class Response:
    text: str  # the new piece of text
    token_ids: tuple[int, ...]
    finish_reason: str | None  # None while streaming, then "stop", "length" or "cancelled"
    stats: Stats


@dataclass(frozen=True)
class EngineInfo:
    model_name: str
    model_dir: str
    device: str
    dtype: str
    quantization: str
    drafter: str | None  # the drafter's folder name, when one is loaded
    resident_bytes: int  # weights and buffers of the loaded model(s)
    kernels: str = ""  # which quanto kernels run (prebuilt, jit, pure-torch)
