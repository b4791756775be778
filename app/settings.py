"""The user's settings: defaults, merged under what was saved, saved atomically.

``load_settings`` never fails: unknown keys are ignored, a value of the wrong type or out of range
falls back to its default (and is logged), and a file that cannot be parsed is moved aside as
``settings.json.corrupt-<timestamp>`` and replaced by the defaults, with a notice for the UI.
``save_settings`` writes a temporary file, flushes it to disk and renames it over the old one, so a
crash leaves either the old settings or the new ones, never half a file.
"""

import dataclasses
import json
import logging
import os
import tempfile
import time
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app import paths

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are Seesay, a helpful assistant running privately on the user's computer. "
    "The user may show you a screenshot of their screen and may speak to you. "
    "Answer clearly and briefly; use Markdown for lists and code."
)

Quantization = Literal["int4", "int8", "none"]
Device = Literal["auto", "cpu", "cuda", "mps"]
ImageDetail = Literal[70, 140, 280, 560, 1120]  # soft tokens per image: more sees finer print


@dataclass
class Settings:
    model_dir: str | None = None  # None: the app asks the user where the model is
    assistant_dir: str | None = None  # the MTP drafter; None: look beside the model
    quantization: Quantization = "int4"
    device: Device = "auto"
    image_detail: ImageDetail = 280
    hotkey_ask_screen: str = "<ctrl>+<shift>+<space>"  # pynput GlobalHotKeys syntax
    hotkey_ask_screen_enabled: bool = True
    hotkey_push_to_talk: str = "<ctrl>+<alt>+<space>"  # hold to speak, release to send
    hotkey_push_to_talk_enabled: bool = True
    microphone: str | None = None  # an input device name; None: the system default
    include_screen_with_voice: bool = True
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int = 64
    max_answer_tokens: int = 1024
    keep_screenshots: bool = True
    use_draft: bool = True
    close_to_tray: bool = False
    max_recording_seconds: int = 120
    context_tokens: int = 8192


# Inclusive bounds for numbers; a saved value outside them falls back to the default.
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.01, 1.0),
    "top_k": (0, 1000),
    "max_answer_tokens": (1, 32768),
    "max_recording_seconds": (1, 600),
    "context_tokens": (1024, 262144),
}


def _fits(value, hint) -> bool:
    """Whether a JSON value has the type ``hint`` names (bool is never taken for a number)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return any(type(value) is type(choice) and value == choice for choice in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return type(value) is hint


_UNUSABLE = object()


def _accept(name: str, value, hint):
    """``value`` made ready for the field, or ``_UNUSABLE`` when the default must stay."""
    if not _fits(value, hint):
        return _UNUSABLE
    if name in _RANGES:
        low, high = _RANGES[name]
        if not low <= value <= high:
            return _UNUSABLE
    return float(value) if hint is float else value


def settings_from_dict(saved: dict) -> Settings:
    """Saved values merged over the defaults; anything unusable keeps its default."""
    hints = typing.get_type_hints(Settings)
    defaults = Settings()
    values = {}
    for field in dataclasses.fields(Settings):
        if field.name not in saved:
            continue
        accepted = _accept(field.name, saved[field.name], hints[field.name])
        if accepted is _UNUSABLE:
            log.warning("settings: ignoring %s=%r; using the default %r",
                        field.name, saved[field.name], getattr(defaults, field.name))
            continue
        values[field.name] = accepted
    return Settings(**values)


def load_settings(path: Path | str | None = None) -> tuple[Settings, str | None]:
    """The saved settings (or the defaults) and a notice for the user when the file was unusable."""
    path = Path(path) if path is not None else paths.settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings(), None
    except OSError as error:
        log.warning("settings: cannot read %s: %s", path, error)
        return Settings(), (f"Seesay could not read its settings file {path} ({error.strerror}), "
                            "so it is using the default settings this time.")
    try:
        saved = json.loads(raw.decode("utf-8"))
        if not isinstance(saved, dict):
            raise ValueError("the file does not hold a JSON object")
    except ValueError as error:
        return Settings(), _move_aside(path, error)
    return settings_from_dict(saved), None


def _move_aside(path: Path, error: Exception) -> str:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    log.warning("settings: %s is damaged (%s); moving it to %s", path, error, aside)
    try:
        os.replace(path, aside)
    except OSError as move_error:
        log.warning("settings: could not move the damaged file aside: %s", move_error)
        return ("Seesay's settings file was damaged, so the default settings are in use; "
                f"saving settings will replace {path}.")
    return ("Seesay's settings file was damaged, so the default settings are in use; "
            f"the old file was kept as {aside}.")


def save_settings(settings: Settings, path: Path | str | None = None) -> None:
    """Write all settings atomically: after a crash the file holds the old or the new ones."""
    path = Path(path) if path is not None else paths.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dataclasses.asdict(settings), indent=2, ensure_ascii=False) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
