"""GUI responsiveness (figure 6): the real app, offscreen, while a model loads and an answer streams.

Runs ``bench.gui_app`` (the app's own ``Desktop``, with a 5 ms heartbeat timer on the GUI
thread) in a fresh process under ``QT_QPA_PLATFORM=offscreen`` with a throw-away SEESAY_HOME.
The longest gap between heartbeats, minus the 5 ms interval, is the longest time the window
could not repaint or react to a click. ``window_visible_s`` is the app's own figure (seconds from
the process's start to the shown window, before torch is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.gui_app import HEARTBEAT_MS
from bench.report import Goal, Section


def run(h) -> Section:
    section = Section("gui")
    quantization = "none" if h.options.quick else "int8"
    home = h.options.work_dir / "gui-home"
    out = h.options.work_dir / "gui.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SEESAY_HOME=str(home), HF_HUB_OFFLINE="1",
               SEESAY_NO_CRASH_DIALOG="1")
    proc = subprocess.run([sys.executable, "-m", "bench.gui_app", str(h.model.model_dir), quantization,
                           str(h.options.decode_tokens), str(out)],
                          capture_output=True, text=True, env=env, check=False, timeout=1200)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"the app did not run: {proc.stderr.strip().splitlines()[-3:]}")
    result = json.loads(out.read_text())
    phases = result["phases"]
    section.raw.update(result, quantization=quantization)
    if result["answer"] not in ("stop", "length"):
        section.notes.append(f"the question was not answered: {result['answer']}")
    stall = {p: max(0.0, phases[p]["max_gap_ms"] - HEARTBEAT_MS) if p in phases else None
             for p in ("loading", "answering", "idle")}
    worst = max((v for v in (stall["loading"], stall["answering"]) if v is not None), default=None)
    h.log(f"gui: window {result['window_visible_s']} s; stall loading {stall['loading']} ms, answering {stall['answering']} ms")
    section.add("window_visible_s", "window visible after start", result["window_visible_s"], "s",
                "process start to shown window (the app's own figure)", Goal("<=", 1.0))
    section.add("gui_max_stall_ms", "GUI longest stall, loading + answering", worst, "ms",
                f"{HEARTBEAT_MS} ms QTimer heartbeat, {quantization} model", Goal("<=", 30))
    for p in ("loading", "answering", "idle"):
        if stall[p] is not None:
            section.add(f"gui_stall_{p}_ms", f"GUI longest stall, {p}", stall[p], "ms",
                        f"{phases[p]['stalls_over_30ms']} gaps over 30 ms in {phases[p]['ticks']} beats")
    section.add("gui_model_ready_s", "model ready after start", result["ready_s"], "s", f"{quantization}, offscreen")
    return section
