"""Stored history -> the engine's turns, and stored messages -> what the chat view shows.

Turns are always built from the stored files (PNG, FLAC), also for the question just asked, so a
follow-up sees byte-identical content and the engine can reuse its KV cache.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from app.store import Message
from inference.conversation import AudioPart, ImagePart, TextPart, Turn
from ui.view_models import AttachmentView, MessageStatus, MessageView

if TYPE_CHECKING:  # imported when audio is first read, not before the window shows
    import numpy as np

_STATUS = {"complete": MessageStatus.DONE, "partial": MessageStatus.STOPPED,
           "cancelled": MessageStatus.STOPPED, "error": MessageStatus.ERROR}


@lru_cache(maxsize=64)
def _image(path: str, mtime: float) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


@lru_cache(maxsize=32)
def _audio(path: str, mtime: float) -> tuple[np.ndarray, int]:
    import soundfile

    samples, rate = soundfile.read(path, dtype="float32", always_2d=False)
    samples.setflags(write=False)
    return samples, rate


def to_turns(messages: list[Message], system_prompt: str = "") -> list[Turn]:
    turns = [Turn.system(system_prompt)] if system_prompt.strip() else []
    for message in messages:
        if message.role == "assistant":
            if message.text.strip():
                turns.append(Turn.assistant(message.text))
            continue
        parts = []
        for attachment in message.attachments:
            path = Path(attachment.path)
            if not path.exists():  # not kept ("Keep screenshots" off), or removed by hand: say so
                what = "A screenshot" if attachment.kind == "image" else "A voice clip"
                parts.append(TextPart(f"[{what} was attached here; it is no longer available.]"))
                continue
            stamp = path.stat().st_mtime
            if attachment.kind == "image":
                parts.append(ImagePart(_image(str(path), stamp)))
            else:
                parts.append(AudioPart(*_audio(str(path), stamp)))
        if message.text.strip():
            parts.append(TextPart(message.text))
        if parts:
            turns.append(Turn(message.role, parts))
    return turns


def to_view(message: Message, note: str = "") -> MessageView:
    stats = message.stats or {}
    stats_text = ""
    if stats.get("generated_tokens"):
        stats_text = f"{stats['generated_tokens']} tokens · {stats.get('tokens_per_s', 0):.1f} tok/s"
    return MessageView(
        id=str(message.id), role=message.role, text=message.text,
        status=_STATUS.get(message.status, MessageStatus.DONE),
        attachments=[AttachmentView(kind=a.kind, path=str(a.path), thumbnail_path=a.thumbnail and str(a.thumbnail),
                                    width=a.width or 0, height=a.height or 0, seconds=a.seconds or 0.0)
                     for a in message.attachments],
        stats_text=stats_text,
        note=note or ("This answer was interrupted." if message.status == "partial" else ""),
    )
