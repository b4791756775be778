"""Figures, their goals, the printed table and the JSON file.

A ``Figure`` is one number a user waits on (or a ratio of two taken side by side in one run),
with the baseline it is compared to and, for the headline figures, a goal. Goals are printed
next to the measured value with a check or a cross; they never fail a run.
"""

from __future__ import annotations

import json
import math
import operator
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone

_OPS = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Goal:
    op: str  # "<=" or ">="
    target: float

    def met(self, value) -> bool | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return _OPS[self.op](value, self.target)

    def __str__(self) -> str:
        return f"{self.op} {_fmt(self.target)}"


@dataclass(frozen=True)
class Figure:
    key: str  # JSON key
    label: str  # what it is, in words
    value: float | None
    unit: str = ""
    baseline: str = ""  # what it was compared with / how it was taken
    goal: Goal | None = None

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        met = self.goal.met(self.value)
        return "-" if met is None else ("\u2713" if met else "\u2717")


@dataclass
class Section:
    name: str
    figures: list[Figure] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, *args, **kwargs) -> Figure:
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        return figure


def table(sections: list[Section], meta: dict) -> str:
    rows = [("figure", "value", "goal", "", "baseline / how")]
    lines = []
    for section in sections:
        rows.append((f"[{section.name}]  ({section.seconds:.0f} s)", "", "", "", ""))
        for f in section.figures:
            rows.append(("  " + f.label, _fmt(f.value, f.unit), str(f.goal or ""), f.verdict, f.baseline))
        for note in section.notes:
            rows.append(("  note: " + note, "", "", "", ""))
    widths = [max(len(r[i]) for r in rows if not r[0].startswith("  note:")) for i in range(4)]
    for r in rows:
        if r[0].startswith("  note:"):
            lines.append(r[0])
            continue
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + ("  " + r[4] if r[4] else ""))
    header = f"Seesay bench  {meta['date']}  {meta['machine']}  device={meta['device']}  {meta['mode']}"
    opts = meta.get("options", {})
    if "load_average_start" in opts:
        header += "\nload average (1 min) at start {:.1f}, at end {:.1f}; total {} s".format(
            opts["load_average_start"][0], opts["load_average_end"][0], opts.get("total_s"))
    return "\n".join([header, ""] + lines)


def to_json(sections: list[Section], meta: dict) -> dict:
    out: dict = {"meta": meta, "goals": {}, "raw": {}}
    for section in sections:
        for f in section.figures:
            out[f.key] = f.value
            if f.goal is not None:
                out["goals"][f.key] = {"goal": str(f.goal), "met": f.goal.met(f.value)}
        out["raw"][section.name] = dict(section.raw, seconds=round(section.seconds, 1), notes=section.notes)
    return out


def write_json(path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=_jsonable)
        f.write("\n")


def machine_meta(device: str, mode: str, options: dict) -> dict:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        ram = ""
    gpu = torch.cuda.get_device_name() if device == "cuda" else ""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": ", ".join(x for x in (f"{os.cpu_count()} x {cpu}", ram, gpu, platform.platform()) if x),
        "device": device, "mode": mode, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "options": options,
    }


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        text = f"{value}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 0.01 or value == 0:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    else:
        text = f"{value:.2e}"
    return f"{text} {unit}".rstrip()


def _jsonable(value):
    if hasattr(value, "__fspath__"):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)
