"""Loading: time and memory, per quantization, each load in a fresh process.

Each case runs ``python -m bench.load MODEL SCHEME CACHE`` in a subprocess that imports torch and
transformers first (its "baseline" memory), then calls ``load_engine`` while a thread samples
the process's RSS every 5 ms, then answers once (weights read through a memory map count in RSS
only once touched, and the app answers right after loading). Peak: the highest RSS from the start
of the load to the end of that answer (sampled, and the kernel's high-water mark VmHWM); resident: the RSS after it,
garbage collected. Each loading phase (the loader's progress messages) keeps its own peak.

Cases: bf16; int8 and int4 quantized from the bf16 checkpoint (and saved as a copy, as the first
start does); int8 and int4 loaded from that saved copy (every later start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench import timing
from bench.report import Goal, Section

CASES = (("none", "load"), ("int8", "quantize"), ("int8", "copy"), ("int4", "quantize"), ("int4", "copy"))
QUICK_CASES = (("none", "load"), ("int4", "quantize"), ("int4", "copy"), ("int8", "quantize"), ("int8", "copy"))


def run(h) -> Section:
    section = Section("load")
    cache = h.options.work_dir / "quantized-copies"
    results = {}
    for scheme, how in (QUICK_CASES if h.options.quick else CASES):
        if how != "copy":
            _clear(cache)
        results[f"{scheme}_{how}"] = r = child(h.model.model_dir, scheme, cache, h.options.device)
        h.log(f"load {scheme} ({how}): {r['seconds']:.1f} s, peak {r['peak_rss'] / 2**30:.2f} GiB, "
              f"resident {r['resident_rss'] / 2**30:.2f} GiB")
    section.raw.update(results)
    ratios = {}
    for case, r in results.items():
        ratios[case] = r["peak_rss"] / r["resident_rss"]
        model_only = (r["peak_rss"] - r["baseline_rss"]) / max(1, r["resident_rss"] - r["baseline_rss"])
        r["peak_vs_resident"], r["model_peak_vs_resident"] = ratios[case], model_only
        section.add(f"load_peak_vs_resident_ratio_{case}", f"load {case.replace('_', ' ')}: peak / resident RSS",
                    ratios[case], "", f"{r['peak_rss'] / 2**30:.2f} / {r['resident_rss'] / 2**30:.2f} GiB, "
                    f"{r['seconds']:.1f} s; without the {r['baseline_rss'] / 2**30:.2f} GiB of imports: "
                    f"{model_only:.2f}", Goal("<=", 1.3))
    worst = max(ratios, key=ratios.get)
    section.add("load_peak_vs_resident_ratio", "load peak / resident RSS, worst case", ratios[worst], "",
                f"{worst}", Goal("<=", 1.3))
    for scheme in ("int8", "int4"):
        q, c = results.get(f"{scheme}_quantize"), results.get(f"{scheme}_copy")
        if q and q["save_s"] is None:
            section.notes.append(f"{scheme}: no copy saved (see inference/quant.worth_saving)")
        elif q and c:
            section.add(f"load_{scheme}_copy_s", f"load {scheme}: saved copy", c["seconds"], "s",
                        f"vs quantizing again {q['quantize_s']:.1f} s (+ {q['save_s']:.1f} s saving the copy)")
            section.add(f"load_{scheme}_copy_vs_quantize_ratio", f"load {scheme}: copy / quantizing again",
                        timing.ratio(c["seconds"], q["quantize_s"]), "", "")
    if "none_load" in results:
        section.add("load_bf16_s", "load bf16", results["none_load"]["seconds"], "s", "safetensors, no quantization")
    return section


def child(model_dir, scheme: str, cache, device: str) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "bench.load", str(model_dir), scheme, str(cache), device],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"loading {scheme} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _clear(folder) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _measure(model_dir: str, scheme: str, cache: str, device: str) -> dict:
    import gc
    import threading

    import torch  # noqa: F401 - imported before the baseline, as the app has it imported
    import transformers  # noqa: F401

    from inference.conversation import Turn
    from inference.generate import GenerationSettings
    from inference.loader import LoadOptions, load_engine

    gc.collect()
    baseline = timing.rss_bytes()
    phases: dict[str, dict] = {}
    state = {"phase": "start", "stop": False, "peak": baseline}

    def sample():
        while not state["stop"]:
            rss = timing.rss_bytes()
            state["peak"] = max(state["peak"], rss)
            phase = phases.setdefault(state["phase"], {"peak_rss": 0})
            phase["peak_rss"] = max(phase["peak_rss"], rss)
            time.sleep(0.005)

    def progress(what: str, _fraction: float) -> None:
        now = time.perf_counter()
        phases.setdefault(what, {"peak_rss": 0})["at_s"] = now - started
        state["phase"] = what

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    engine = load_engine(LoadOptions(model=model_dir, quantization=scheme, cache_dir=cache, device=device,
                                     use_draft=False, check_memory=False), progress)
    seconds = time.perf_counter() - started
    after_load = timing.rss_bytes()
    load_peak = state["peak"]
    # Weights read through a memory map only count once touched: answer once, as the app will.
    progress("First answer", 1.0)
    engine.answer([Turn.user("Hello")], GenerationSettings(max_new_tokens=2, greedy=True, use_draft=False))
    state["stop"] = True
    sampler.join()
    gc.collect()
    resident = timing.rss_bytes()
    peak = max(state["peak"], resident, _high_water_mark())
    saving = phases.get("Saving the quantized copy for faster starts", {}).get("at_s")
    return {
        "seconds": seconds, "baseline_rss": baseline, "peak_rss": peak, "resident_rss": resident,
        "rss_after_load": after_load, "peak_rss_during_load": load_peak,
        "resident_bytes": engine.info.resident_bytes, "phases": phases,
        "quantize_s": saving,  # the whole load up to saving the copy: comparable with a copy's load
        "save_s": (seconds - saving) if saving else None,
    }


def _high_water_mark() -> int:
    """The process's peak RSS (Linux VmHWM). Not ``ru_maxrss``: that one survives fork + exec, so a
    child of a big process would report its parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    print(json.dumps(_measure(*sys.argv[1:5])))
