"""``python -m bench [--quick] [--json PATH] [--device cpu|cuda] [--only decode,prefill,...]``

Builds the tiny checkpoint and the 12B-shaped slice in a temporary folder (or ``--models-dir``,
kept and reused), runs every section in order, prints the table (bench/README.md explains how to
read it) and optionally writes the JSON. A section that fails is reported and the run goes on.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

SECTIONS = ("decode", "prefill", "voice", "drafter", "load", "capture", "head", "gui")
MODULES = {"head": "bench.decode_head"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description="Measure Seesay's speed and memory.")
    p.add_argument("--quick", action="store_true", help="a 2-layer slice and fewer repeats (~10 min on 2 CPU cores)")
    p.add_argument("--json", type=Path, help="also write every figure, raw numbers included, to this file")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--only", default="", help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    p.add_argument("--models-dir", type=Path, help="build the models here and keep them (reused when present)")
    p.add_argument("--layers", type=int, help="layers in the 12B slice (default: 2 with --quick, else 6)")
    p.add_argument("--repeats", type=int, help="timed runs per figure (default: 3 with --quick, else 5)")
    p.add_argument("--tiny-only", action="store_true", help="run on the tiny model only (mechanics, seconds)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sections = tuple(s for s in args.only.split(",") if s) or SECTIONS
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="seesay-bench-") as tmp:
        return _run(args, sections, Path(tmp))


def _run(args, sections, tmp: Path) -> int:
    import torch

    from bench import report
    from bench.harness import Harness, Options
    from bench.models import build_slice, build_tiny
    from inference.device import choose_device

    device = str(choose_device(args.device).type)
    options = Options(
        quick=args.quick, device=device, sections=sections, work_dir=tmp,
        slice_layers=args.layers or (2 if args.quick else 6),
        repeats=args.repeats or (3 if args.quick else 5),
        decode_tokens=12 if args.quick else 32,
    )
    models = args.models_dir or tmp / "models"
    started = time.perf_counter()
    load_start = os.getloadavg()  # other work on the machine skews every figure: say how much there was
    print(f"[    0.0s] building models in {models}", file=sys.stderr, flush=True)
    tiny = build_tiny(models / "tiny") if not (models / "tiny" / "gemma-4-tiny-it").is_dir() else _reuse_tiny(models)
    slice_ = None if args.tiny_only else build_slice(models, options.slice_layers)
    h = Harness(options=options, tiny=tiny, slice=slice_, started=started)
    h.log(f"models ready; device {device}, torch threads {torch.get_num_threads()}")
    done: list[report.Section] = []
    for name in sections:
        begun = time.perf_counter()
        try:
            section = importlib.import_module(MODULES.get(name, f"bench.{name}")).run(h)
        except Exception as exc:  # one broken section must not hide the others
            traceback.print_exc()
            section = report.Section(name, notes=[f"failed: {type(exc).__name__}: {exc}"])
        section.seconds = time.perf_counter() - begun
        h.results[name] = section.raw
        done.append(section)
        h.log(f"{name} done in {section.seconds:.0f} s")
    h.drop_all()
    mode = ("quick" if args.quick else "full") + f", {h.model.name}" + (
        f" ({options.slice_layers} of 48 layers)" if slice_ else "")
    meta = report.machine_meta(device, mode, {"repeats": options.repeats, "decode_tokens": options.decode_tokens,
                                              "load_average_start": load_start, "load_average_end": os.getloadavg(),
                                              "slice_layers": options.slice_layers if slice_ else None,
                                              "total_s": round(time.perf_counter() - started, 1)})
    print(report.table(done, meta))
    if args.json:
        report.write_json(args.json, report.to_json(done, meta))
        print(f"\nJSON written to {args.json}")
    return 0


def _reuse_tiny(models: Path):
    import json

    from bench.models import Checkpoint

    model_dir = models / "tiny" / "gemma-4-tiny-it"
    kinds = json.loads((model_dir / "config.json").read_text())["text_config"]["layer_types"]
    return Checkpoint("tiny", model_dir, models / "tiny" / "gemma-4-tiny-it-assistant", tuple(kinds), len(kinds))


if __name__ == "__main__":
    sys.exit(main())
