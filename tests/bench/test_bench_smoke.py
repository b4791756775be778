"""Mechanics of ``python -m bench``: one section on the tiny model, end to end (never timings)."""

import json

from bench.__main__ import main
from bench.decode import PAIRS_PER_REPEAT


def test_decode_section_runs_and_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["--quick", "--tiny-only", "--only", "decode", "--repeats", "1",
                 "--models-dir", str(tmp_path / "models"), "--json", str(out)])

    assert code == 0
    table = capsys.readouterr().out
    assert "int4 decode / floor" in table and "failed" not in table
    data = json.loads(out.read_text())
    for key in ("decode_floor_ratio_int4", "engine_vs_bare_decode_ratio", "decode_tokens_per_s_none",
                "decode_tokens_per_s_int8", "decode_tokens_per_s_int4", "bandwidth_gb_per_s"):
        assert isinstance(data[key], float) and data[key] > 0, key
    assert data["goals"]["decode_floor_ratio_int4"]["goal"] == ">= 0.8"
    raw = data["raw"]["decode"]
    for scheme in ("none", "int8", "int4"):
        pairs = PAIRS_PER_REPEAT if scheme == "int4" else 1  # int4's engine / bare has a goal: more pairs
        assert len(raw[scheme]["engine_runs"]) == len(raw[scheme]["bare_runs"]) == pairs
        assert raw[scheme]["projection"] is None  # projections to 48 layers are for the 12B slice only
    # Fewer bits, fewer bytes read per token: the floor follows the quantization.
    assert raw["int4"]["bytes_per_token"] < raw["int8"]["bytes_per_token"] < raw["none"]["bytes_per_token"]
    assert data["meta"]["mode"].startswith("quick")
