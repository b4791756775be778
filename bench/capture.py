"""Capture: grabbing a 2560x1440 screen, and preparing it for the model at each detail level.

* grab: ``mss`` on a private Xvfb of that size (started here, stopped after; null when Xvfb is
  missing), raw, and through the app's own ``app.capture.screen.grab_all`` (grab + PIL RGB).
* preprocessing: the model's image processor (``Gemma4UnifiedImageProcessor``, the one a real
  snapshot loads) turning that screenshot into patches at each detail budget (70 to 1120 soft
  tokens); this runs on the CPU before every question with a screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager

from bench import inputs, timing
from bench.report import Section
from inference.media import IMAGE_DETAILS

SIZE = inputs.SCREEN_SIZE


def run(h) -> Section:
    section = Section("capture")
    repeats = max(5, h.options.repeats * 3)
    with private_display(SIZE) as display:
        grab = measure_grab(display, repeats) if display else None
    if grab is None:
        section.notes.append("Xvfb is not installed: no screen to grab (grab figures are null)")
        grab = {"image": None, "raw_ms": None, "app_ms": None}
    grab.pop("image")
    image = inputs.screenshot()  # an empty Xvfb is black; preprocessing gets a drawn desktop
    section.raw["grab"] = grab
    section.add("capture_grab_ms", f"mss grab {SIZE[0]}x{SIZE[1]}", grab["raw_ms"], "ms", "raw BGRA, median")
    section.add("capture_grab_to_pil_ms", "app grab_all (grab + PIL RGB)", grab["app_ms"], "ms", "app.capture.screen")
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(h.model.model_dir, local_files_only=True).image_processor
    section.raw["preprocess"] = {}
    for detail in IMAGE_DETAILS:
        ms, tokens = preprocess(processor, image, detail, repeats)
        section.raw["preprocess"][detail] = {"ms": ms, "soft_tokens": tokens}
        section.add(f"preprocess_ms_{detail}", f"preprocess at detail {detail}", ms, "ms", f"{tokens} soft tokens")
    return section


def measure_grab(display: str, repeats: int) -> dict:
    import mss

    from app.capture import screen

    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        with mss.MSS() as session:
            monitor = session.monitors[0]
            session.grab(monitor)
            raw = []
            for _ in range(repeats):
                start = time.perf_counter()
                session.grab(monitor)
                raw.append(time.perf_counter() - start)
        app = []
        for _ in range(repeats):
            start = time.perf_counter()
            image = screen.grab_all()
            app.append(time.perf_counter() - start)
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
    return {"raw_ms": timing.median(raw) * 1e3, "app_ms": timing.median(app) * 1e3, "size": image.size,
            "image": image}


def preprocess(processor, image, detail: int, repeats: int) -> tuple[float, int]:
    processor(images=[image], max_soft_tokens=detail, return_tensors="pt")  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = processor(images=[image], max_soft_tokens=detail, return_tensors="pt")
        times.append(time.perf_counter() - start)
    tokens = int((out["image_position_ids"][0] != -1).all(-1).sum()) // 1
    return timing.median(times) * 1e3, tokens


@contextmanager
def private_display(size: tuple[int, int]):
    """An Xvfb of ``size`` on a free display number; yields its name, or None without Xvfb."""
    if shutil.which("Xvfb") is None:
        yield None
        return
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        number = pipe.readline().strip()
    try:
        yield ":" + number.decode() if number else None
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
