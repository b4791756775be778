"""app.download against a real HTTP server on 127.0.0.1 that imitates the Hugging Face Hub."""

from __future__ import annotations

import errno
import re
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

import app.download as download
from app.download import DownloadError, DownloadPlan, ModelDownload, download_complete
from inference.locate import locate_assistant
from inference.verify import verify_assistant, verify_model
from tests.app.http_model_server import UNWANTED, HubImitation, closed_port_url

MODEL = "google/gemma-4-12B-it"
ASSISTANT = MODEL + "-assistant"
CHUNK = 64 * 1024  # several chunks per shard, so a pause lands inside a file


@pytest.fixture
def hub(tiny):
    with HubImitation({MODEL: tiny.model_dir, ASSISTANT: tiny.assistant_dir}) as server:
        yield server


def new_download(hub, root: Path, token: str | None = None) -> ModelDownload:
    return ModelDownload([MODEL, ASSISTANT], root, endpoint=hub.url, token=token or "", chunk_size=CHUNK)


class Recorder:
    """progress + should_stop callbacks; asks to stop (pause/cancel) once a shard has started."""

    def __init__(self, stop_with: str | None = None):
        self.stop_with = stop_with
        self.progress: list[download.DownloadProgress] = []
        self.stop_requested_at: int | None = None  # index into progress when the stop was asked

    def on_progress(self, p):
        self.progress.append(p)
        if self.stop_with and self.stop_requested_at is None and p.current_file.endswith(".safetensors"):
            self.stop_requested_at = len(self.progress)

    def should_stop(self):
        return self.stop_with if self.stop_requested_at is not None else None

    def run(self, job: ModelDownload) -> str:
        return job.run(self.on_progress, self.should_stop)


def source_files(tiny) -> dict[Path, Path]:
    """target-relative path -> source file, for both repos."""
    pairs = {}
    for folder, name in ((tiny.model_dir, "gemma-4-12B-it"), (tiny.assistant_dir, "gemma-4-12B-it-assistant")):
        pairs.update({Path(name) / p.name: p for p in folder.iterdir() if p.is_file()})
    return pairs


def test_plan_lists_only_loadable_files_with_sizes(hub, tiny, tmp_path):
    plan = new_download(hub, tmp_path).plan()

    expected = {(str(rel.parent.name), rel.name, src.stat().st_size) for rel, src in source_files(tiny).items()}
    assert {(f.repo.split("/")[1], f.path, f.size) for f in plan.files} == expected
    assert not set(UNWANTED) & {f.path for f in plan.files}
    assert plan.total_bytes == sum(size for *_, size in expected)
    assert plan.done_bytes == 0
    assert plan.target_dirs == [tmp_path / "gemma-4-12B-it", tmp_path / "gemma-4-12B-it-assistant"]
    assert plan.free_bytes > 0 and Path(plan.disk).is_dir()
    assert not any(tmp_path.iterdir()), "planning writes nothing"


def test_full_download_is_byte_identical_and_loads(hub, tiny, tmp_path):
    recorder = Recorder()
    assert recorder.run(new_download(hub, tmp_path)) == "done"

    for rel, src in source_files(tiny).items():
        assert (tmp_path / rel).read_bytes() == src.read_bytes(), rel
    model_dir = tmp_path / "gemma-4-12B-it"
    report = verify_model(model_dir)
    assert locate_assistant(model_dir) == tmp_path / "gemma-4-12B-it-assistant"
    verify_assistant(locate_assistant(model_dir), report)
    assert download_complete(model_dir) and download_complete(tmp_path / "gemma-4-12B-it-assistant")
    assert not list(tmp_path.rglob("*.part"))
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("original"))
    done = [p.done_bytes for p in recorder.progress]
    assert done == sorted(done) and done[-1] == recorder.progress[-1].total_bytes


def test_pause_then_resume_in_a_new_object_continues_with_a_range_request(hub, tiny, tmp_path):
    paused = Recorder(stop_with="pause")
    assert paused.run(new_download(hub, tmp_path)) == "paused"
    assert len(paused.progress) == paused.stop_requested_at, "no byte counted after the pause"
    shard = paused.progress[-1].current_file
    repo_dir = next(d for d in (tmp_path / "gemma-4-12B-it", tmp_path / "gemma-4-12B-it-assistant")
                    if (d / (shard + ".part")).exists())
    part_size = (repo_dir / (shard + ".part")).stat().st_size
    full_size = next(src for rel, src in source_files(tiny).items() if rel == Path(repo_dir.name) / shard).stat().st_size
    assert 0 < part_size < full_size
    assert not (repo_dir / shard).exists() and not download_complete(repo_dir)

    again = new_download(hub, tmp_path)  # as after an app restart
    assert again.plan().done_bytes >= part_size
    resumed = Recorder()
    assert resumed.run(again) == "done"

    ranged = [s for s in hub.served(shard) if s.range]
    assert [s.range for s in ranged] == [f"bytes={part_size}-"]
    assert ranged[0].status == 206 and ranged[0].sent == full_size - part_size
    assert resumed.progress[0].done_bytes >= part_size, "progress starts where the pause left off"
    for rel, src in source_files(tiny).items():
        assert (tmp_path / rel).read_bytes() == src.read_bytes(), rel
    verify_model(tmp_path / "gemma-4-12B-it")


def test_cancel_returns_at_the_next_chunk_and_keeps_the_partial_file(hub, tmp_path):
    cancelled = Recorder(stop_with="cancel")
    assert cancelled.run(new_download(hub, tmp_path)) == "cancelled"
    assert len(cancelled.progress) == cancelled.stop_requested_at
    assert len(list(tmp_path.rglob("*.safetensors.part"))) == 1
    assert not download_complete(tmp_path / "gemma-4-12B-it")


def test_cancel_before_start_fetches_nothing(hub, tmp_path):
    job = new_download(hub, tmp_path)
    job.plan()
    assert job.run(lambda p: pytest.fail("no progress expected"), lambda: "cancel") == "cancelled"
    assert not [s for s in hub.log if s.kind != "api" and s.method == "GET"]


def test_not_enough_disk_is_refused_before_any_byte(hub, tmp_path, monkeypatch):
    job = new_download(hub, tmp_path)
    total = job.plan().total_bytes
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * total, 9 * total, total // 2))
    with pytest.raises(DownloadError) as caught:
        new_download(hub, tmp_path).run(lambda p: None, lambda: None)
    assert re.fullmatch(r"Downloading Gemma 4 12B needs [\d.]+ MB; [\d.]+ MB is free on /\S*\. "
                        r"Free some space or choose another folder\.", str(caught.value))
    assert not list(tmp_path.rglob("*.part"))


def test_space_message_reads_as_the_issue_asks():
    plan = DownloadPlan(files=[], total_bytes=24_100_000_000, free_bytes=10_200_000_000, target_dirs=[],
                        disk="/home", title="Gemma 4 12B")
    with pytest.raises(DownloadError, match=re.escape(
            "Downloading Gemma 4 12B needs 24.1 GB; 10.2 GB is free on /home. "
            "Free some space or choose another folder.")):
        plan.check_space()


@pytest.mark.parametrize("token, code", [("", 401), ("wrong", 403)])
def test_gated_repo_explains_license_and_token(tiny, tmp_path, token, code):
    with HubImitation({MODEL: tiny.model_dir, ASSISTANT: tiny.assistant_dir}, token="right") as hub:
        with pytest.raises(DownloadError) as caught:
            new_download(hub, tmp_path, token=token).plan()
    message = str(caught.value)
    assert f"HTTP {code}" in message and "accept the license" in message and "access token" in message
    assert f"/{MODEL}" in message


def test_gated_repo_downloads_with_the_token_which_never_reaches_the_cdn(tiny, tmp_path):
    with HubImitation({MODEL: tiny.model_dir, ASSISTANT: tiny.assistant_dir}, token="right") as hub:
        assert Recorder().run(new_download(hub, tmp_path, token="right")) == "done"
    assert {s.authorization for s in hub.log if s.kind == "resolve"} == {"Bearer right"}
    assert [s for s in hub.log if s.kind == "cdn"] and not [s for s in hub.log if s.kind == "cdn" and s.authorization]
    verify_model(tmp_path / "gemma-4-12B-it")


def test_unreachable_hub_says_check_the_connection(tmp_path):
    endpoint = closed_port_url()
    job = ModelDownload([MODEL, ASSISTANT], tmp_path, endpoint=endpoint, token="")
    with pytest.raises(DownloadError, match=re.escape(
            f"Cannot reach {endpoint.removeprefix('http://')}: check your internet connection and try again.")):
        job.plan()


def test_unknown_repo_says_not_found(hub, tmp_path):
    with pytest.raises(DownloadError, match="google/nope was not found"):
        ModelDownload(["google/nope"], tmp_path, endpoint=hub.url, token="").plan()


def test_dropped_connection_keeps_the_part_and_the_next_run_resumes(hub, tiny, tmp_path):
    job = new_download(hub, tmp_path)
    job.plan()
    hub.drop_after = 3 * CHUNK + 100  # the first file body big enough is cut here
    with pytest.raises(DownloadError, match="check your internet connection"):
        job.run(lambda p: None, lambda: None)
    parts = list(tmp_path.rglob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 3 * CHUNK + 100

    assert Recorder().run(new_download(hub, tmp_path)) == "done"
    assert [s.range for s in hub.served(parts[0].name.removesuffix(".part")) if s.range] == [f"bytes={3 * CHUNK + 100}-"]
    for rel, src in source_files(tiny).items():
        assert (tmp_path / rel).read_bytes() == src.read_bytes(), rel


def test_damaged_file_is_deleted_and_reported(hub, tmp_path):
    hub.corrupt.add("model.safetensors")
    with pytest.raises(DownloadError, match=r"model.safetensors of google/gemma-4-12B-it-assistant arrived damaged"):
        new_download(hub, tmp_path).run(lambda p: None, lambda: None)
    assert not (tmp_path / "gemma-4-12B-it-assistant" / "model.safetensors").exists()
    assert not list(tmp_path.rglob("*.part"))


def test_disk_full_mid_download_says_free_space_and_keeps_the_part(hub, tmp_path, monkeypatch):
    real_open = open

    class FillsUp:
        def __init__(self, file):
            self.file, self.written = file, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            if self.written:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += self.file.write(data)

    def fake_open(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return FillsUp(file) if "a" in mode or "w" in mode else file

    monkeypatch.setattr(download, "open", fake_open, raising=False)
    with pytest.raises(DownloadError, match="is full: free some space, then press Download to resume"):
        new_download(hub, tmp_path).run(lambda p: None, lambda: None)
    assert list(tmp_path.rglob("*.part"))


def test_a_finished_download_fetches_nothing_again(hub, tmp_path):
    assert Recorder().run(new_download(hub, tmp_path)) == "done"
    gets = len([s for s in hub.log if s.kind != "api" and s.method == "GET"])
    job = new_download(hub, tmp_path)
    assert job.plan().needed_bytes == 0
    assert Recorder().run(job) == "done"
    assert len([s for s in hub.log if s.kind != "api" and s.method == "GET"]) == gets


def test_a_new_revision_discards_the_old_partial_file(hub, tmp_path):
    paused = Recorder(stop_with="pause")
    assert paused.run(new_download(hub, tmp_path)) == "paused"
    shard = paused.progress[-1].current_file
    repo = next(r for r in (MODEL, ASSISTANT) if (tmp_path / r.split("/")[1] / (shard + ".part")).exists())
    new_bytes = hub.files[repo][shard][:-1] + bytes([hub.files[repo][shard][-1] ^ 1])  # last weight byte
    hub.files[repo][shard] = new_bytes
    hub.commit = "f" * 40

    assert Recorder().run(new_download(hub, tmp_path)) == "done"
    assert not [s for s in hub.served(shard) if s.range], "no resume across revisions"
    assert (tmp_path / repo.split("/")[1] / shard).read_bytes() == new_bytes
