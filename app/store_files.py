"""Attachment files of the history: screenshots as PNG, voice clips as FLAC, one folder per conversation."""

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Union

import numpy as np
import soundfile
from PIL import Image

from inference.conversation import AudioPart, ImagePart

log = logging.getLogger(__name__)

# What add_message takes: a PIL image, (samples, sample_rate), or the engine's own parts.
AttachmentInput = Union[Image.Image, tuple[np.ndarray, int], ImagePart, AudioPart]


def write_attachment(item: AttachmentInput, folder: Path, stem: str) -> tuple[str, Path, dict]:
    """Write one attachment as ``folder/stem.png|.flac``; returns (kind, path, size facts).

    A failed write leaves no file behind.
    """
    if isinstance(item, ImagePart):
        item = item.image
    elif isinstance(item, AudioPart):
        item = (item.samples, item.sample_rate)
    if isinstance(item, Image.Image):
        kind, path, facts = "image", folder / f"{stem}.png", {"width": item.width, "height": item.height}
    elif isinstance(item, tuple) and len(item) == 2 and int(item[1]) > 0:
        samples, rate = np.asarray(item[0]), int(item[1])
        kind, path, facts = "audio", folder / f"{stem}.flac", {"seconds": len(samples) / rate}
    else:
        raise ValueError(f"cannot store {type(item).__name__} as an attachment; "
                         "expected a PIL image or (samples, sample_rate > 0)")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "image":
            image = item if item.mode in ("RGB", "RGBA", "L") else item.convert("RGB")
            image.save(path, "PNG", compress_level=1)  # fast: it is written on the GUI thread (bench: gui)
        else:
            if np.issubdtype(samples.dtype, np.floating):
                samples = np.clip(samples, -1.0, 1.0)
            soundfile.write(path, samples, rate, format="FLAC", subtype="PCM_16")
    except BaseException:
        delete_files([path])
        raise
    return kind, path, facts


def load_image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """Float32 samples in [-1, 1] and their rate."""
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
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC", subtype="PCM_16")
    buffer.seek(0)
    out, _ = soundfile.read(buffer, dtype="float32", always_2d=False)
    return out
