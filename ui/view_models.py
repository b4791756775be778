"""Plain data the application hands to the widgets: what to show, never how to get it.

Widgets in ``ui/`` read these records and emit the user's intent as signals; they never load a
model, query the history store or touch settings files. Every record is a frozen dataclass so a
widget can keep one without the app changing it underneath.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MessageStatus(StrEnum):
    """How far an answer got. Anything but DONE and STREAMING is marked visibly in the chat."""

    DONE = "done"
    STREAMING = "streaming"
    STOPPED = "stopped"  # the user pressed Stop: the answer is partial
    TRUNCATED = "truncated"  # the answer hit the maximum answer length
    ERROR = "error"  # generation failed; MessageView.note says why


class DownloadState(StrEnum):
    IDLE = "idle"  # nothing started yet (or cancelled)
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class AttachmentView:
    """A screenshot (kind "image") or a voice clip (kind "audio") attached to a user message."""

    kind: str  # "image" or "audio"
    path: str
    thumbnail_path: str | None = None  # a small copy of the image, shown instead if it can be read
    width: int = 0  # image pixels
    height: int = 0
    seconds: float = 0.0  # audio length


@dataclass(frozen=True)
class MessageView:
    id: str
    role: str  # "user" or "assistant"
    text: str
    status: MessageStatus | str = MessageStatus.DONE
    attachments: list[AttachmentView] = field(default_factory=list)
    stats_text: str = ""  # e.g. "212 tokens · 14.2 tok/s"
    note: str = ""  # why an answer failed or stopped, in plain words


@dataclass(frozen=True)
class ConversationView:
    id: str
    title: str
    updated: datetime | None = None


@dataclass(frozen=True)
class StatusView:
    """The status line: what the model is doing and what it costs."""

    model_state: str = "No model"  # e.g. "Loading…", "Ready", "Answering…", "No model"
    device: str = ""  # e.g. "CPU", "CUDA", "MPS"
    quantization: str = ""  # e.g. "int8", "int4", "bf16"
    memory_text: str = ""  # e.g. "9.8 GB in use"
    tokens_per_second: float | None = None  # of the last answer


@dataclass(frozen=True)
class SettingsChoices:
    """The options the settings dialog offers; the app knows which exist on this machine."""

    quantizations: list[str] = field(default_factory=lambda: ["int4", "int8", "none"])
    devices: list[str] = field(default_factory=lambda: ["auto", "cpu"])
    image_details: list[int] = field(default_factory=lambda: [70, 140, 280, 560, 1120])
    microphones: list[str] = field(default_factory=list)  # "System default" is always offered
    # Hotkeys, in the order shown: settings key (its "<key>_enabled" switches it) -> label.
    hotkey_actions: dict[str, str] = field(
        default_factory=lambda: {
            "hotkey_ask_screen": "Ask about the screen",
            "hotkey_push_to_talk": "Push to talk (hold)",
        }
    )
