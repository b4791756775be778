"""User directories honour SEESAY_HOME; assets resolve from source and from a frozen build."""

import os
import sys
from pathlib import Path

import pytest

from app import paths


def test_seesay_home_holds_every_user_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SEESAY_HOME", str(tmp_path / "portable"))
    home = (tmp_path / "portable").resolve()
    folders = [paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.log_dir(),
               paths.quantized_dir(), paths.attachments_dir()]
    for folder in folders:
        assert folder.is_dir()
        assert home in folder.parents
    assert len(set(folders)) == len(folders)
    assert paths.quantized_dir() == paths.cache_dir() / "quantized"
    assert paths.history_db_path().parent == paths.data_dir()
    assert paths.settings_path().parent == paths.config_dir()


@pytest.mark.skipif(sys.platform != "linux", reason="XDG variables steer platformdirs on Linux only")
def test_without_override_platform_folders_are_used(tmp_path, monkeypatch):
    monkeypatch.delenv("SEESAY_HOME")
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable))
    assert paths.config_dir() == tmp_path / "XDG_CONFIG_HOME" / "Seesay"
    assert paths.data_dir() == tmp_path / "XDG_DATA_HOME" / "Seesay"
    assert paths.cache_dir() == tmp_path / "XDG_CACHE_HOME" / "Seesay"
    assert paths.config_dir().is_dir()


def test_test_session_never_uses_the_real_home():
    assert paths.data_dir().resolve().is_relative_to(Path(os.environ["SEESAY_HOME"]).resolve())
    assert not paths.data_dir().resolve().is_relative_to(Path.home() / ".local")


def test_asset_path_from_source_points_into_the_repository():
    repo_root = Path(__file__).resolve().parents[2]
    assert paths.asset_path("icon.png") == repo_root / "assets" / "icon.png"
    assert (repo_root / "assets").is_dir()


def test_asset_path_in_a_frozen_build_uses_the_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.asset_path("style.qss") == tmp_path / "assets" / "style.qss"
