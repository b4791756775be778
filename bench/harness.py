"""What every section gets: the options, the built models, loaded engines (shared), a log.

Engines are loaded once per (model, quantization) and shared by the sections, so a run loads the
12B slice three times (bf16, int8, int4), not once per figure. ``drop`` frees one when a section
is done with it.
"""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.models import Checkpoint


@dataclass
class Options:
    quick: bool = False
    device: str = "auto"
    sections: tuple[str, ...] = ()
    work_dir: Path = Path(".")
    slice_layers: int = 2
    repeats: int = 3
    decode_tokens: int = 16


@dataclass
class Harness:
    options: Options
    tiny: Checkpoint
    slice: Checkpoint | None
    results: dict = field(default_factory=dict)  # raw figures of the sections run so far, by name
    _engines: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def model(self) -> Checkpoint:
        """The checkpoint the timed figures run on: the 12B slice, or the tiny one if there is none."""
        return self.slice or self.tiny

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)

    def engine(self, quantization: str, checkpoint: Checkpoint | None = None):
        """A loaded engine, loaded once and cached; the int4 one (the app's default) also loads the
        drafter when the checkpoint has one.

        Quantized at load (no saved copy): the load section measures the saved-copy path itself.
        """
        from inference.loader import LoadOptions, load_engine

        checkpoint = checkpoint or self.model
        key = (checkpoint.model_dir, quantization)
        if key not in self._engines:
            draft = checkpoint.assistant_dir is not None and quantization == "int4"
            self.log(f"loading {checkpoint.name} ({quantization}{', with the drafter' if draft else ''})")
            self._engines[key] = load_engine(LoadOptions(
                model=str(checkpoint.model_dir), quantization=quantization, device=self.options.device,
                cache_dir=None, use_draft=draft, check_memory=False,
                assistant=str(checkpoint.assistant_dir) if draft else None,
            ))
        return self._engines[key]

    def drop(self, quantization: str, checkpoint: Checkpoint | None = None) -> None:
        checkpoint = checkpoint or self.model
        if self._engines.pop((checkpoint.model_dir, quantization), None) is not None:
            gc.collect()
            _empty_device_cache()

    def drop_all(self) -> None:
        self._engines.clear()
        gc.collect()
        _empty_device_cache()


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
