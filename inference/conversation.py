"""What the user said, in the order they said it: plain data, no torch.

A conversation is a list of turns; a user turn holds any mix of images, audio clips and text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Union

from PIL import Image

if TYPE_CHECKING:  # the window imports this module before its first paint; numpy costs ~0.1 s
    import numpy as np


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    image: Image.Image


@dataclass(frozen=True, eq=False)
class AudioPart:
    """Samples as given (any rate, mono or channels-last stereo); the engine converts to 16 kHz mono."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


Part = Union[TextPart, ImagePart, AudioPart]
Role = Literal["system", "user", "assistant"]


@dataclass
class Turn:
    role: Role
    parts: list[Part] = field(default_factory=list)

    @classmethod
    def user(cls, *parts: Part | str) -> "Turn":
        return cls("user", [TextPart(p) if isinstance(p, str) else p for p in parts])

    @classmethod
    def assistant(cls, text: str) -> "Turn":
        return cls("assistant", [TextPart(text)])

    @classmethod
    def system(cls, text: str) -> "Turn":
        return cls("system", [TextPart(text)])
