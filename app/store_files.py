"""Attachment files of the history, one folder per conversation: screenshots as PNG (each with a
small copy to show), voice clips as FLAC."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Union

from PIL import Image

from inference.conversation import AudioPart, ImagePart

if TYPE_CHECKING:  # numpy and soundfile: imported at the first audio, not before the window shows
    import numpy as np

log = logging.getLogger(__name__)

# What add_message takes: a PIL image, (samples, sample_rate), or the engine's own parts.
AttachmentInput = Union[Image.Image, "tuple[np.ndarray, int]", ImagePart, AudioPart]
# An image's small copy for the transcript: twice its 200x130 thumbnail, for HiDPI screens.
# Decoding the full PNG there took ~17 ms on the GUI thread for a 2560x1440 screenshot.
THUMBNAIL_BOX = (400, 260)


class Encoded(NamedTuple):
    kind: str  # "image" or "audio"
    suffix: str  # of the file
    data: bytes  # its contents
    meta: dict  # size facts: width and height, or seconds
    thumbnail: bytes | None = None  # PNG of a small copy, for images


def thumbnail_path(path: Path) -> Path:
    """Where an attachment's small copy is (images stored before there were copies have none)."""
    return path.with_name(f"{path.stem}-thumb.png")


def encode_attachment(item: AttachmentInput) -> Encoded:
    """One attachment as file contents: PNG (and a small PNG copy) for images, FLAC for audio.

    Done before the history's lock is taken (a 2560x1440 screenshot takes ~50-100 ms to encode).
    """
    if isinstance(item, ImagePart):
        item = item.image
    elif isinstance(item, AudioPart):
        item = (item.samples, item.sample_rate)
    buffer = io.BytesIO()
    if isinstance(item, Image.Image):
        image = item if item.mode in ("RGB", "RGBA", "L") else item.convert("RGB")
        image.save(buffer, "PNG", compress_level=1)  # fast; screenshots compress well anyway
        return Encoded("image", ".png", buffer.getvalue(), {"width": item.width, "height": item.height},
                       encode_thumbnail(image))
    if isinstance(item, tuple) and len(item) == 2 and int(item[1]) > 0:
        import numpy as np
        import soundfile

        samples, rate = np.asarray(item[0]), int(item[1])
        if np.issubdtype(samples.dtype, np.floating):
            samples = np.clip(samples, -1.0, 1.0)
        soundfile.write(buffer, samples, rate, format="FLAC", subtype="PCM_16")
        return Encoded("audio", ".flac", buffer.getvalue(), {"seconds": len(samples) / rate})
    raise ValueError(f"cannot store {type(item).__name__} as an attachment; "
                     "expected a PIL image or (samples, sample_rate > 0)")


def encode_thumbnail(image: Image.Image) -> bytes:
    small = image.copy()
    small.thumbnail(THUMBNAIL_BOX)  # reduces by a whole factor first, then filters: a few ms
    buffer = io.BytesIO()
    small.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path``; a failed write leaves no file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(data)
    except BaseException:
        delete_files([path])
        raise


def load_image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """Float32 samples in [-1, 1] and their rate."""
    import soundfile

    samples, rate = soundfile.read(path, dtype="float32")
    return samples, rate


def delete_files(files: Iterable[Path]) -> None:
    """Best effort: a file that cannot go now is only wasted space, never a broken history."""
    for path in files:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as error:
            log.warning("history: could not delete %s: %s", path, error)


def move_aside(db_path: Path) -> Path:
    """Rename a damaged database (and its WAL files) to ``<name>.corrupt-<timestamp>``."""
    aside = db_path.with_name(f"{db_path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        source = db_path.with_name(db_path.name + suffix)
        if source.exists():
            os.replace(source, aside.with_name(aside.name + suffix))
    return aside


def as_stored_audio(samples: np.ndarray, rate: int) -> np.ndarray:
    """The samples exactly as reading back their stored FLAC gives them (16-bit), without a file."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC", subtype="PCM_16")
    buffer.seek(0)
    out, _ = soundfile.read(buffer, dtype="float32", always_2d=False)
    return out
