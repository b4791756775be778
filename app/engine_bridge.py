"""The Qt bridge: runs ``inference`` on a worker thread and turns its results into signals.

The GUI thread never imports torch or calls the model: ``load`` and ``ask`` queue work onto the
worker's thread; pieces, progress and errors come back as queued signals. ``cancel`` is the one
call that crosses threads directly (it only sets a flag the engine reads between steps).
Every exception raised on the worker ends in ``loadFailed`` or ``answerFailed``, never in silence.
"""

import logging
import threading

from ui.qt import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


class _Worker(QObject):
    loadProgress = Signal(str, float)
    loaded = Signal(object)  # EngineInfo
    loadFailed = Signal(str)
    piece = Signal(str, str)  # request id, text
    answered = Signal(str, str, object)  # request id, finish reason, Stats
    answerFailed = Signal(str, str)  # request id, message

    def __init__(self):
        super().__init__()
        self.engine = None

    @Slot(object)
    def load(self, options) -> None:
        try:
            old, self.engine = self.engine, None
            del old  # free the previous model before loading another
            from inference.loader import load_engine

            self.engine = load_engine(options, progress=self.loadProgress.emit)
            self.loaded.emit(self.engine.info)
        except Exception as error:  # noqa: BLE001 - every failure must reach the user
            log.exception("loading the model failed")
            self.loadFailed.emit(_message(error))

    @Slot(str, object, object)
    def ask(self, request_id: str, turns, settings) -> None:
        if self.engine is None:
            self.answerFailed.emit(request_id, "The model is not loaded yet.")
            return
        try:
            if callable(turns):
                turns = turns()
            last = None
            for last in self.engine.stream(turns, settings):
                if last.text:
                    self.piece.emit(request_id, last.text)
            self.answered.emit(request_id, last.finish_reason, last.stats)
        except Exception as error:  # noqa: BLE001
            log.exception("answering failed")
            self.answerFailed.emit(request_id, _message(error))

    @Slot(object)
    def prefill(self, take) -> None:
        """Prefill the newest request ``take()`` hands over (None: a later call already took it).

        Best effort: a failure here only costs speed; the answer itself reports real problems."""
        job = take()
        if self.engine is None or job is None:
            return
        try:
            self.engine.prefill(*job)
        except Exception:  # noqa: BLE001
            log.debug("prefill skipped", exc_info=True)

    @Slot()
    def forget(self) -> None:
        if self.engine is not None:
            self.engine.forget()


def _message(error: Exception) -> str:
    from inference.errors import SeesayError

    if isinstance(error, SeesayError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Seesay ran out of memory. Choose int4 in Settings, or close other programs."
    return f"Something went wrong: {type(error).__name__}: {error}. The log has the details."


class EngineBridge(QObject):
    loadProgress = Signal(str, float)
    loaded = Signal(object)
    loadFailed = Signal(str)
    piece = Signal(str, str)
    answered = Signal(str, str, object)
    answerFailed = Signal(str, str)

    _load = Signal(object)
    _ask = Signal(str, object, object)
    _forget = Signal()
    _prefill = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("seesay-engine")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._load.connect(self._worker.load)
        self._ask.connect(self._worker.ask)
        self._forget.connect(self._worker.forget)
        self._prefill.connect(self._worker.prefill)
        for name in ("loadProgress", "loaded", "loadFailed", "piece", "answered", "answerFailed"):
            getattr(self._worker, name).connect(getattr(self, name))
        self._busy = threading.Event()
        self._prefill_lock = threading.Lock()
        self._next_prefill = None  # the newest (turns, detail) the worker has not taken yet
        self.answered.connect(lambda *_: self._busy.clear())
        self.answerFailed.connect(lambda *_: self._busy.clear())
        self._thread.start()

    def load(self, options) -> None:
        self._load.emit(options)

    def ask(self, request_id: str, turns, settings) -> None:
        """``turns``: a list, or a callable that returns it, called on the worker (reading images takes time)."""
        self._busy.set()
        self._ask.emit(request_id, turns, settings)

    def cancel(self) -> None:
        engine = self._worker.engine
        if engine is not None:
            engine.cancel()

    def forget(self) -> None:
        self._forget.emit()

    def prefill(self, turns, detail: int) -> None:
        """Prefill the question so far (push-to-talk, while the user speaks).

        Requests made while one runs are merged: the worker takes only the newest. Each prefill
        costs a fixed part (every int4 weight is unpacked once, bench/) on top of its tokens, so
        when prefilling falls behind the speaker, fewer and longer ones catch up sooner."""
        if self._busy.is_set():
            return
        with self._prefill_lock:
            waiting = self._next_prefill is not None
            self._next_prefill = (turns, detail)
        if not waiting:
            self._prefill.emit(self._take_prefill)

    def _take_prefill(self):
        with self._prefill_lock:
            job, self._next_prefill = self._next_prefill, None
        return job

    def is_answering(self) -> bool:
        return self._busy.is_set()

    def shutdown(self) -> None:
        self.cancel()
        self._thread.quit()
        self._thread.wait(10_000)
