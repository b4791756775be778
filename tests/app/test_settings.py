"""Settings: defaults merged under the saved file, damaged files moved aside, atomic saves."""

import dataclasses
import json
import multiprocessing
import os

import pytest

from app import paths
from app.settings import Settings, load_settings, save_settings


def test_missing_file_gives_defaults_and_no_notice(tmp_path):
    settings, notice = load_settings(tmp_path / "settings.json")
    assert settings == Settings()
    assert notice is None
    assert settings.quantization == "int4" and settings.image_detail == 280
    assert settings.max_answer_tokens == 1024 and settings.context_tokens == 8192


def test_save_then_load_round_trips_every_field(tmp_path):
    path = tmp_path / "settings.json"
    changed = Settings(model_dir="/models/gemma", quantization="int8", device="cpu", image_detail=1120,
                       microphone="USB Mic", hotkey_push_to_talk_enabled=False, temperature=0.3,
                       top_k=0, system_prompt="Be terse. ÄÖÜ", close_to_tray=True)
    save_settings(changed, path)
    assert load_settings(path) == (changed, None)
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp file left behind


def test_default_path_is_in_the_config_dir():
    save_settings(Settings(top_k=5))
    assert paths.settings_path().is_file()
    assert load_settings()[0].top_k == 5


def test_saved_values_merge_over_defaults_and_unknown_keys_are_ignored(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"device": "cuda", "from_a_future_version": 42}))
    settings, notice = load_settings(path)
    assert notice is None
    assert settings == dataclasses.replace(Settings(), device="cuda")


@pytest.mark.parametrize("name, bad", [
    ("quantization", "int3"), ("device", "tpu"), ("image_detail", 300), ("image_detail", "280"),
    ("temperature", "hot"), ("temperature", -1), ("top_k", 2.5), ("top_k", True),
    ("max_answer_tokens", 0), ("keep_screenshots", "yes"), ("keep_screenshots", 1),
    ("hotkey_ask_screen", None), ("microphone", 3), ("context_tokens", 10**9),
])
def test_wrong_or_out_of_range_values_fall_back_to_their_default(tmp_path, name, bad):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({name: bad, "top_p": 0.5}))
    settings, notice = load_settings(path)
    assert notice is None
    assert getattr(settings, name) == getattr(Settings(), name)
    assert settings.top_p == 0.5  # the good value next to it is kept


def test_integers_are_taken_for_floats_and_none_for_optional_fields(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"temperature": 1, "microphone": None, "model_dir": None}))
    settings, _ = load_settings(path)
    assert settings.temperature == 1.0 and isinstance(settings.temperature, float)
    assert settings.microphone is None


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe\x00garbage", b""])
def test_damaged_file_is_moved_aside_and_defaults_used(tmp_path, content):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    settings, notice = load_settings(path)
    assert settings == Settings()
    kept = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert not path.exists()
    assert notice and str(kept[0]) in notice and "default" in notice
    save_settings(settings, path)  # the app can save again afterwards
    assert load_settings(path) == (settings, None)


def _save_forever(path):
    n = 0
    while True:
        n += 1
        save_settings(Settings(top_k=n % 1000, system_prompt="x" * 50_000), path)


def test_killing_a_process_mid_save_leaves_a_readable_file(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(Settings(), path)
    context = multiprocessing.get_context("spawn" if os.name != "posix" else "fork")
    writer = context.Process(target=_save_forever, args=(path,))
    writer.start()
    seen = path.stat().st_mtime_ns
    while path.stat().st_mtime_ns == seen:  # wait until it has replaced the file at least once
        assert writer.is_alive()
    writer.kill()
    writer.join()
    settings, notice = load_settings(path)
    assert notice is None
    assert settings.system_prompt == "x" * 50_000
