"""Find the model on this machine: a folder, or a repo id already in the Hugging Face cache.

Seesay never downloads on its own. Importing this module forces the Hugging Face libraries
offline (``force_offline``), so nothing the engine imports afterwards can reach the network.
The cache is read by its documented layout
(``<cache>/models--<org>--<name>/{refs/main, snapshots/<commit>/}``), looked up at call time
so ``HF_HOME`` / ``HF_HUB_CACHE`` set after start-up are honoured.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from inference.errors import ModelNotFound

MODEL_REPO = "google/gemma-4-12B-it"
ASSISTANT_SUFFIX = "-assistant"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")


def force_offline() -> None:
    """Make huggingface_hub and transformers refuse every network call, for this process."""
    for name in _OFFLINE_VARS:
        os.environ[name] = "1"
    # huggingface_hub reads the variable once, at import: if it is already imported, tell it too.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


force_offline()


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment the way huggingface_hub does."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def repo_folder(repo_id: str, cache: Path | None = None) -> Path:
    """Where the cache keeps ``repo_id`` (whether or not it is there)."""
    return (cache or hf_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def cached_snapshot(repo_id: str, cache: Path | None = None) -> Path | None:
    """The snapshot folder ``refs/main`` points at (else the newest snapshot), or None."""
    folder = repo_folder(repo_id, cache)
    snapshots = folder / "snapshots"
    ref = folder / "refs" / "main"
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        if commit and (snapshots / commit).is_dir():
            return snapshots / commit
    candidates = [p for p in snapshots.iterdir() if p.is_dir()] if snapshots.is_dir() else []
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def snapshot_repo(path: Path) -> tuple[str, str] | None:
    """``(repo_id, commit)`` if ``path`` is a snapshot folder in a Hugging Face cache, else None."""
    path = Path(path)
    repo_dir = path.parent.parent
    if path.parent.name != "snapshots" or not repo_dir.name.startswith("models--"):
        return None
    parts = repo_dir.name[len("models--"):].split("--")
    if len(parts) < 2:
        return None
    return parts[0] + "/" + "--".join(parts[1:]), path.name


def looks_like_repo_id(spec: str) -> bool:
    return bool(_REPO_ID.match(spec)) and not spec.startswith((".", "~"))


def locate_model(spec: str) -> Path:
    """The folder of the model ``spec`` names: a local folder, or a repo id in the local cache."""
    return _locate(spec, _MODEL_HINT)


def locate_assistant(model_dir: Path, explicit: str | None = None) -> Path | None:
    """The drafter's folder: ``explicit`` if given, else one found beside the model, else None.

    "Beside" means a sibling folder ``<model folder name>-assistant`` or, for a model in the
    Hugging Face cache, the ``<repo id>-assistant`` repo in the same cache.
    """
    if explicit:
        return _locate(explicit, _ASSISTANT_HINT)
    model_dir = Path(model_dir)
    sibling = model_dir.parent / (model_dir.name + ASSISTANT_SUFFIX)
    if sibling.is_dir():
        return sibling
    cached = snapshot_repo(model_dir)
    if cached is not None:
        cache = model_dir.parent.parent.parent
        return cached_snapshot(cached[0] + ASSISTANT_SUFFIX, cache)
    return None


_MODEL_HINT = (
    "Point --model at a folder with a Gemma 4 12B snapshot, "
    f"or download {MODEL_REPO} in Seesay's setup page."
)
_ASSISTANT_HINT = (
    f"Point --assistant at a folder with the {MODEL_REPO}{ASSISTANT_SUFFIX} snapshot, "
    "or leave it empty to run without the drafter."
)


def _locate(spec: str, hint: str) -> Path:
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.absolute()
    if path.exists():
        raise ModelNotFound(f"{spec} is a file, not a model folder. {hint}")
    if looks_like_repo_id(spec):
        snapshot = cached_snapshot(spec)
        if snapshot is not None:
            return snapshot
        raise ModelNotFound(
            f"{spec} is neither a folder nor in the Hugging Face cache ({hf_cache_dir()}), and Seesay "
            f"never downloads on its own. {hint}"
        )
    raise ModelNotFound(f"No model at {spec}. {hint}")
