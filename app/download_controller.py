"""The setup page's download: google/gemma-4-12B-it and its drafter, on a worker thread.

The only network use in the whole app, and only when the user presses Download. Pause keeps the
partial files; pressing Download again (also after a restart) resumes where it stopped.
"""

import logging
import threading

from app import paths
from inference.errors import SeesayError
from ui.qt import QObject, QThread, Signal
from ui.view_models import DownloadState

log = logging.getLogger(__name__)
REPOS = ["google/gemma-4-12B-it", "google/gemma-4-12B-it-assistant"]


class _Job(QThread):
    progress = Signal(int, int, str)
    ended = Signal(str, str)  # "done" | "paused" | "cancelled" | "failed", message

    def __init__(self, root, stop_flag: dict):
        super().__init__()
        self.root, self.stop_flag = root, stop_flag

    def run(self) -> None:
        from app.download import ModelDownload

        try:
            job = ModelDownload(REPOS, self.root)
            plan = job.plan()
            plan.check_space()
            self.progress.emit(plan.done_bytes, plan.total_bytes, "Starting…")
            outcome = job.run(
                lambda p: self.progress.emit(p.done_bytes, p.total_bytes, p.current_file),
                lambda: self.stop_flag.get("why"))
            self.ended.emit(outcome, str(job.target_dir(REPOS[0])))
        except SeesayError as error:
            self.ended.emit("failed", str(error))
        except Exception as error:  # noqa: BLE001 - a bug must still reach the user
            log.exception("download failed")
            self.ended.emit("failed", f"The download failed: {error}")


class DownloadController(QObject):
    finished = Signal(str)  # the model folder, once complete

    def __init__(self, window, models):
        super().__init__(window)
        self.window, self.models = window, models
        self.job: _Job | None = None
        self._stop: dict = {}
        self._lock = threading.Lock()
        page = window.setup
        page.downloadRequested.connect(self.start)
        page.downloadPaused.connect(self.toggle_pause)
        page.downloadCancelled.connect(lambda: self._request("cancel"))

    def start(self) -> None:
        if self.job is not None and self.job.isRunning():
            return
        self._stop = {}
        self.job = _Job(paths.data_dir() / "models", self._stop)
        self.job.progress.connect(self._on_progress)
        self.job.ended.connect(self._on_ended)
        self.window.setup.set_download_state(DownloadState.RUNNING)
        self.job.start()

    def toggle_pause(self) -> None:
        if self.job is not None and self.job.isRunning():
            self._request("pause")
        else:
            self.start()  # "Resume"

    def _request(self, why: str) -> None:
        self._stop["why"] = why

    def _on_progress(self, done: int, total: int, current: str) -> None:
        self.window.setup.set_download_progress(done, total, current)

    def _on_ended(self, outcome: str, message: str) -> None:
        page = self.window.setup
        if outcome == "done":
            page.set_download_state(DownloadState.DONE)
            self.models.choose_folder(message)
            self.finished.emit(message)
        elif outcome == "paused":
            page.set_download_state(DownloadState.PAUSED, "Paused: press Resume to go on, also after a restart.")
        elif outcome == "cancelled":
            page.set_download_state(DownloadState.IDLE, "Cancelled. The part already downloaded is kept.")
        else:
            page.set_download_state(DownloadState.FAILED, message)

    def shutdown(self) -> None:
        if self.job is not None and self.job.isRunning():
            self._request("pause")
            self.job.wait(5000)
