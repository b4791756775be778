"""Finding the model: local folders, the Hugging Face cache (offline only), the drafter beside it."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from inference import locate
from inference.errors import ModelNotFound
from inference.locate import force_offline, locate_assistant, locate_model
from inference.verify import verify_model

REPO = "google/gemma-4-12B-it"


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache for this test only, found through HF_HOME."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return tmp_path / "hf" / "hub"


def cache_repo(cache: Path, repo_id: str, source: Path, commit: str, ref: bool = True) -> Path:
    """Lay ``source`` out as huggingface_hub does: content-addressed blobs, symlinked snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in source.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        if not blob.exists():
            shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_force_offline_sets_the_variables_and_tells_an_imported_hub(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    force_offline()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


def test_a_folder_is_returned_as_an_absolute_path(tiny, monkeypatch):
    monkeypatch.chdir(tiny.model_dir.parent)
    found = locate_model(tiny.model_dir.name)
    assert found.is_absolute() and found.samefile(tiny.model_dir)


def test_a_missing_folder_says_how_to_get_the_model(tmp_path):
    with pytest.raises(ModelNotFound) as e:
        locate_model(str(tmp_path / "nowhere"))
    assert str(e.value) == (
        f"No model at {tmp_path / 'nowhere'}. Point --model at a folder with a Gemma 4 12B snapshot, "
        "or download google/gemma-4-12B-it in Seesay's setup page."
    )


def test_a_file_is_not_a_model(tiny):
    with pytest.raises(ModelNotFound, match="is a file, not a model folder"):
        locate_model(str(tiny.model_dir / "config.json"))


def test_a_repo_id_resolves_to_its_cached_snapshot(tiny, hf_cache):
    snapshot = cache_repo(hf_cache, REPO, tiny.model_dir, "a" * 40)
    assert locate_model(REPO) == snapshot
    report = verify_model(snapshot)  # symlinked blobs verify like plain files
    assert (report.revision, report.repo_id, report.name) == ("a" * 40, REPO, "gemma-4-12B-it")


def test_refs_main_picks_the_snapshot_among_several(tiny, hf_cache):
    wanted = cache_repo(hf_cache, REPO, tiny.model_dir, "b" * 40)
    newer = cache_repo(hf_cache, REPO, tiny.model_dir, "c" * 40, ref=False)
    os.utime(newer, (wanted.stat().st_mtime + 100,) * 2)
    assert locate_model(REPO) == wanted


def test_without_refs_main_the_newest_snapshot_is_used(tiny, hf_cache):
    older = cache_repo(hf_cache, REPO, tiny.model_dir, "d" * 40, ref=False)
    newer = cache_repo(hf_cache, REPO, tiny.model_dir, "e" * 40, ref=False)
    os.utime(newer, (older.stat().st_mtime + 100,) * 2)
    assert locate_model(REPO) == newer


def test_hf_hub_cache_wins_over_hf_home(tiny, tmp_path, hf_cache, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    snapshot = cache_repo(elsewhere, REPO, tiny.model_dir, "f" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(elsewhere))
    assert locate.hf_cache_dir() == elsewhere
    assert locate_model(REPO) == snapshot


def test_a_repo_id_not_in_the_cache_is_not_downloaded(hf_cache):
    with pytest.raises(ModelNotFound) as e:
        locate_model(REPO)
    message = str(e.value)
    assert REPO in message and str(hf_cache) in message and "never downloads" in message
    assert not hf_cache.exists()  # nothing was fetched or created


def test_the_drafter_beside_the_model_is_found(tiny):
    assert locate_assistant(tiny.model_dir, None) == tiny.assistant_dir


def test_no_drafter_beside_the_model_gives_none(tiny, tmp_path):
    alone = tmp_path / "gemma-4-12B-it"
    shutil.copytree(tiny.model_dir, alone)
    assert locate_assistant(alone, None) is None


def test_an_explicit_drafter_wins_over_the_sibling(tiny, tmp_path):
    other = tmp_path / "my-drafter"
    shutil.copytree(tiny.assistant_dir, other)
    assert locate_assistant(tiny.model_dir, str(other)) == other


def test_a_missing_explicit_drafter_is_an_error(tiny, tmp_path):
    with pytest.raises(ModelNotFound, match="--assistant"):
        locate_assistant(tiny.model_dir, str(tmp_path / "missing"))


def test_the_cached_drafter_repo_is_found_for_a_cached_model(tiny, hf_cache):
    model = cache_repo(hf_cache, REPO, tiny.model_dir, "1" * 40)
    assert locate_assistant(model, None) is None
    drafter = cache_repo(hf_cache, REPO + "-assistant", tiny.assistant_dir, "2" * 40)
    assert locate_assistant(model, None) == drafter
