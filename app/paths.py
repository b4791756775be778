"""Where Seesay keeps its files: every user directory comes from here, nowhere else.

The folders follow each platform's conventions (platformdirs, app name "Seesay"). Setting the
environment variable ``SEESAY_HOME`` puts everything under that one folder instead: the tests use it
so they never touch the real home, and a portable install can use it to live on a USB stick.

Each function creates its folder on first use. Bundled, read-only files (icons, style sheets) are
found with :func:`asset_path`, which works from a source checkout and from a PyInstaller build.
"""

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Seesay"
HOME_VARIABLE = "SEESAY_HOME"


def _home_override() -> Path | None:
    value = os.environ.get(HOME_VARIABLE, "").strip()
    return Path(value).expanduser().resolve() if value else None


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _user_dir(kind: str) -> Path:
    home = _home_override()
    if home is not None:
        return _ensure(home / kind)
    # appauthor=False: no extra "Seesay\\Seesay" level on Windows.
    finder = {
        "config": platformdirs.user_config_path,
        "data": platformdirs.user_data_path,
        "cache": platformdirs.user_cache_path,
        "logs": platformdirs.user_log_path,
    }[kind]
    return _ensure(finder(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Settings (small files the user may want to back up)."""
    return _user_dir("config")


def data_dir() -> Path:
    """Conversation history and its attachments."""
    return _user_dir("data")


def cache_dir() -> Path:
    """Files Seesay can rebuild (quantized model copies): safe to delete."""
    return _user_dir("cache")


def log_dir() -> Path:
    return _user_dir("logs")


def quantized_dir() -> Path:
    """Quantized copies of models, made once so later starts load fast."""
    return _ensure(cache_dir() / "quantized")


def settings_path() -> Path:
    return config_dir() / "settings.json"


def history_db_path() -> Path:
    return data_dir() / "history.sqlite3"


def attachments_dir() -> Path:
    """Screenshots and voice clips of the history, one sub-folder per conversation."""
    return _ensure(data_dir() / "attachments")


def _bundle_root() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and frozen_root:
        return Path(frozen_root)  # PyInstaller unpacks bundled data here
    return Path(__file__).resolve().parent.parent  # the repository root


def asset_path(name: str) -> Path:
    """The bundled file ``assets/<name>``; the packaging spec must ship the folder as ``assets``."""
    return _bundle_root() / "assets" / name
