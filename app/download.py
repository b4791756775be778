"""Download the model once, when the user asks: the only network use in all of Seesay.

``ModelDownload(repo_ids, target_root)`` puts each repo in ``<target_root>/<repo name>`` (so the
drafter ``gemma-4-12B-it-assistant`` lands beside ``gemma-4-12B-it``, where
``inference.locate.locate_assistant`` looks), fetching only what Seesay loads (``WANTED``).

``plan()`` lists the files and their sizes (one Hub API call per repo, plus a HEAD request that
finds a gated repo before any byte is spent) and measures the free disk. ``run(progress,
should_stop)`` streams each file with HTTP Range requests into ``<file>.part``, checks its
size and hash (LFS sha256, or the git blob id for small files), then renames it. ``should_stop``
is asked between chunks: "pause" and "cancel" both return at once and keep the partial files, so
a later ``run`` - even from a new process - continues where this one stopped. A state file per
folder records which revision the partial files belong to; a marker file says a folder is done.

HTTP (urllib, Range requests, error messages) lives in ``app.download_http``. No Qt here: the
app runs ``run`` on a worker thread and turns the callbacks into signals.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import json
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from huggingface_hub import hf_hub_url

from app.download_http import DownloadError, HubConnection
from inference.sizes import human_size

# Top-level files the engine loads; *.bin/*.pt pickles, original/ and the like are never fetched.
WANTED = (
    "config*.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
    "tokenizer*", "special_tokens_map.json", "added_tokens.json", "*processor_config.json",
    "chat_template*",
)
PART_SUFFIX = ".part"
STATE_FILE = ".seesay-download.json"  # revision + file identities the partial files belong to
DONE_MARKER = ".seesay-download-complete"
CHUNK_SIZE = 1 << 20
_RATE_WINDOW_S = 5.0


@dataclass(frozen=True)
class DownloadProgress:
    done_bytes: int  # of total_bytes, including what earlier runs left on disk
    total_bytes: int
    current_file: str
    bytes_per_s: float  # over the last few seconds of this run


@dataclass(frozen=True)
class PlannedFile:
    repo: str
    path: str  # inside the repo
    size: int
    sha256: str | None  # LFS files
    blob_id: str | None  # git blob id (sha1) for the small files
    url: str
    target: Path

    @property
    def part(self) -> Path:
        return self.target.with_name(self.target.name + PART_SUFFIX)

    @property
    def identity(self) -> str:
        return self.sha256 or self.blob_id or f"size:{self.size}"


@dataclass
class DownloadPlan:
    files: list[PlannedFile]
    total_bytes: int
    free_bytes: int
    target_dirs: list[Path]
    done_bytes: int = 0  # already on disk from an earlier run (complete files and .part files)
    disk: str = ""  # mount point of the target folder, for messages
    title: str = "the model"
    commits: dict[str, str] = field(default_factory=dict)

    @property
    def needed_bytes(self) -> int:
        return self.total_bytes - self.done_bytes

    def check_space(self) -> None:
        if self.needed_bytes > self.free_bytes:
            raise DownloadError(
                f"Downloading {self.title} needs {human_size(self.needed_bytes)}; "
                f"{human_size(self.free_bytes)} is free on {self.disk}. "
                "Free some space or choose another folder."
            )


def download_complete(folder: Path) -> bool:
    """True if a ModelDownload finished this folder (every file arrived and checked out)."""
    return (Path(folder) / DONE_MARKER).is_file()


class ModelDownload:
    """Plan and run the download of ``repo_ids`` into ``target_root``; see the module docstring."""

    def __init__(self, repo_ids: list[str], target_root: Path, endpoint: str | None = None,
                 token: str | None = None, chunk_size: int = CHUNK_SIZE):
        self.repo_ids = list(repo_ids)
        self.target_root = Path(target_root).expanduser()
        self.hub = HubConnection(endpoint, token)
        self.chunk_size = chunk_size
        self._plan: DownloadPlan | None = None

    def target_dir(self, repo: str) -> Path:
        return self.target_root / repo.split("/")[-1]

    # -- planning --

    def plan(self) -> DownloadPlan:
        """List what to fetch and what is already here; raises DownloadError (network, access)."""
        files, commits = [], {}
        for repo in self.repo_ids:
            info = self.hub.model_info(repo)
            commits[repo] = info.sha or "main"
            wanted = [s for s in info.siblings or [] if _wanted(s.rfilename)]
            if not wanted:
                raise DownloadError(f"{repo} on {self.hub.host} has no safetensors model files Seesay can load.")
            for s in sorted(wanted, key=lambda s: s.size or 0):
                files.append(PlannedFile(
                    repo=repo, path=s.rfilename, size=s.lfs.size if s.lfs else (s.size or 0),
                    sha256=s.lfs.sha256 if s.lfs else None, blob_id=None if s.lfs else s.blob_id,
                    url=hf_hub_url(repo, s.rfilename, revision=commits[repo], endpoint=self.hub.endpoint),
                    target=self.target_dir(repo) / s.rfilename,
                ))
            self._check_access(repo, next(f for f in files if f.repo == repo))
        states = {repo: _read_state(self.target_dir(repo)) for repo in self.repo_ids}
        done = sum(0 if _stale(f, states[f.repo]) else _bytes_on_disk(f) for f in files)
        disk = _existing_ancestor(self.target_root)
        self._plan = DownloadPlan(
            files=files, total_bytes=sum(f.size for f in files), free_bytes=shutil.disk_usage(disk).free,
            target_dirs=[self.target_dir(r) for r in self.repo_ids], done_bytes=done,
            disk=str(_mount_point(disk)), title=_title(self.repo_ids[0]), commits=commits,
        )
        return self._plan

    def _check_access(self, repo: str, file: PlannedFile) -> None:
        """Gated repos list their files to anyone but refuse the bytes: find out before starting."""
        self.hub.open(file.url, repo, method="HEAD").close()

    # -- running --

    def run(self, progress: Callable[[DownloadProgress], None],
            should_stop: Callable[[], str | None]) -> str:
        """Fetch what is missing: "done", or "paused"/"cancelled" when ``should_stop`` asked."""
        plan = self._plan or self.plan()
        if stop := _stop_reason(should_stop):
            return stop
        by_repo = {repo: [f for f in plan.files if f.repo == repo] for repo in self.repo_ids}
        stale = set()
        for repo, files in by_repo.items():
            stale |= self._prepare(self.target_dir(repo), repo, plan.commits[repo], files)
        plan.done_bytes = sum(0 if f in stale else _bytes_on_disk(f) for f in plan.files)
        plan.free_bytes = shutil.disk_usage(_existing_ancestor(self.target_root)).free
        plan.check_space()
        meter = _Meter(plan, progress)
        for repo, files in by_repo.items():
            folder = self.target_dir(repo)
            for f in files:
                if f not in stale and not f.part.exists() and _bytes_on_disk(f) == f.size:
                    continue
                stop = self._fetch(f, meter, should_stop)
                if stop:
                    return stop
            _write_marker(folder, repo, plan.commits[repo])
        meter.report("")
        return "done"

    def _prepare(self, folder: Path, repo: str, commit: str, files: list[PlannedFile]) -> set[PlannedFile]:
        """Drop partial files of another revision and record this one; return the stale files."""
        old = _read_state(folder)
        stale = {f for f in files if _stale(f, old)}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not stale and old.get("commit") == commit:
                return stale
            (folder / DONE_MARKER).unlink(missing_ok=True)
            for f in stale:
                f.part.unlink(missing_ok=True)  # an old complete file stays until the new one replaces it
            state = {"repo": repo, "commit": commit, "files": {f.path: f.identity for f in files}}
            (folder / STATE_FILE).write_text(json.dumps(state, indent=1))
        except OSError as e:
            raise _write_error(folder, e) from e
        return stale

    def _fetch(self, f: PlannedFile, meter: _Meter, should_stop) -> str | None:
        hasher = _Hasher(f)
        have = f.part.stat().st_size if f.part.exists() else 0
        if have > f.size:
            f.part.unlink()
            have = 0
        if have:  # re-read what an earlier run left, so the hash covers the whole file
            with open(f.part, "rb") as existing:
                while chunk := existing.read(self.chunk_size):
                    hasher.update(chunk)
                    if stop := _stop_reason(should_stop):
                        return stop
        if have < f.size:
            response = self.hub.open(f.url, f.repo, start=have)
            if have and response.status != 206:  # the server ignored Range: start over
                have, hasher = 0, _Hasher(f)
                meter.restart_file(f)
            try:
                with response, open(f.part, "ab" if have else "wb") as out:
                    while chunk := self.hub.read(response, self.chunk_size):
                        out.write(chunk)
                        hasher.update(chunk)
                        meter.add(len(chunk), f.path)
                        if stop := _stop_reason(should_stop):
                            return stop
            except OSError as e:
                raise _write_error(f.target.parent, e) from e
        self._finish(f, hasher)
        return None

    def _finish(self, f: PlannedFile, hasher: _Hasher) -> None:
        size = f.part.stat().st_size
        if size < f.size:  # the connection ended early: keep the part for a resume
            raise self.hub.unreachable()
        if size != f.size or not hasher.matches():
            f.part.unlink()
            why = f"{human_size(size)} of {human_size(f.size)}" if size != f.size else "its checksum does not match"
            raise DownloadError(f"{f.path} of {f.repo} arrived damaged ({why}) and was deleted; "
                                "press Download to fetch it again.")
        os.replace(f.part, f.target)


class _Hasher:
    """LFS files: sha256 of the content; small files: the git blob id (sha1 of header + content)."""

    def __init__(self, f: PlannedFile):
        self.expected = f.sha256 or f.blob_id
        self._hash = hashlib.sha256() if f.sha256 else hashlib.sha1(f"blob {f.size}\0".encode())

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def matches(self) -> bool:
        return not self.expected or self._hash.hexdigest() == self.expected.lower()


class _Meter:
    """Counts bytes and reports progress with the rate over the last few seconds."""

    def __init__(self, plan: DownloadPlan, report: Callable[[DownloadProgress], None]):
        self.total, self.done, self._report = plan.total_bytes, plan.done_bytes, report
        self._window = deque([(time.monotonic(), self.done)])
        self.report("")

    def add(self, n: int, current: str) -> None:
        self.done += n
        self.report(current)

    def restart_file(self, f: PlannedFile) -> None:
        self.done -= f.part.stat().st_size if f.part.exists() else 0

    def report(self, current: str) -> None:
        now = time.monotonic()
        self._window.append((now, self.done))
        while len(self._window) > 2 and now - self._window[1][0] >= _RATE_WINDOW_S:
            self._window.popleft()
        t0, d0 = self._window[0]
        rate = (self.done - d0) / (now - t0) if now > t0 else 0.0
        self._report(DownloadProgress(self.done, self.total, current, max(rate, 0.0)))


def _stop_reason(should_stop) -> str | None:
    return {"pause": "paused", "cancel": "cancelled"}.get(should_stop() or "")


def _write_error(folder: Path, e: OSError) -> DownloadError:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DownloadError(f"The disk holding {folder} is full: free some space, then press Download "
                             "to resume; what was downloaded so far is kept.")
    return DownloadError(f"Cannot write to {folder} ({e.strerror or e}): choose another folder.")


def _write_marker(folder: Path, repo: str, commit: str) -> None:
    try:
        (folder / DONE_MARKER).write_text(json.dumps({"repo": repo, "commit": commit}))
    except OSError as e:
        raise _write_error(folder, e) from e


def _wanted(path: str) -> bool:
    return "/" not in path and any(fnmatch.fnmatch(path, p) for p in WANTED)


def _read_state(folder: Path) -> dict:
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _stale(f: PlannedFile, state: dict) -> bool:
    """True if what is on disk for ``f`` was fetched for another revision (or by someone else)."""
    return (state.get("files") or {}).get(f.path) != f.identity


def _bytes_on_disk(f: PlannedFile) -> int:
    """What an earlier run already left of ``f`` (the partial file, else the complete one)."""
    for candidate in (f.part, f.target):
        if candidate.is_file():
            size = candidate.stat().st_size
            return size if size <= f.size else 0
    return 0


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _title(repo: str) -> str:
    """``google/gemma-4-12B-it`` -> ``Gemma 4 12B``, for messages."""
    name = repo.split("/")[-1].removesuffix("-it").replace("-", " ")
    return name[:1].upper() + name[1:]
