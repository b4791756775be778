"""The Qt bridge to the engine: ``load`` and ``ask`` go to the engine's own process; progress, pieces,
answers and errors come back as signals on the GUI thread.

The engine runs in a child process (app/engine_process.py, started and spoken to by
app/engine_relay.py), so this process never imports torch: the window does not freeze while torch
loads, and a crash or an out-of-memory kill in the model leaves the window standing (the answer
then fails with a message that says so, and the next load starts a fresh process). No call here
blocks the GUI thread on the engine. Every failure ends in ``loadFailed`` or ``answerFailed``,
never in silence.
"""

import threading

from app.engine_relay import EngineRelay
from ui.qt import QObject, Signal


class EngineBridge(QObject):
    loadProgress = Signal(str, float)
    loaded = Signal(object)  # EngineInfo
    loadFailed = Signal(str)
    piece = Signal(str, str)  # request id, text
    answered = Signal(str, str, object)  # request id, finish reason, Stats
    answerFailed = Signal(str, str)  # request id, message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._relay = EngineRelay()
        for name in ("loadProgress", "loaded", "loadFailed", "piece", "answered", "answerFailed"):
            getattr(self._relay, name).connect(getattr(self, name))  # queued: they come from its threads
        self._busy = threading.Event()
        self.answered.connect(lambda *_: self._busy.clear())
        self.answerFailed.connect(lambda *_: self._busy.clear())

    def load(self, options) -> None:
        """Load ``options`` (a LoadOptions), replacing the model loaded before."""
        self._relay.load(options)

    def ask(self, request_id: str, turns, settings) -> None:
        """``turns``: a list, or a callable that returns it, called off the GUI thread (reading images takes time)."""
        self._busy.set()
        self._relay.ask(request_id, turns, settings)

    def cancel(self) -> None:
        """Stop the answer in progress (or asked for) at the next token; it ends as "cancelled"."""
        self._relay.cancel()

    def forget(self) -> None:
        self._relay.forget()

    def prefill(self, turns, detail: int) -> None:
        """Prefill the question so far (push-to-talk, while the user speaks).

        Requests made while one runs are merged: only the newest is sent after it. Each prefill
        costs a fixed part (every int4 weight is unpacked once, bench/) on top of its tokens, so
        when prefilling falls behind the speaker, fewer and longer ones catch up sooner."""
        if self._busy.is_set():
            return
        self._relay.prefill(turns, detail)

    def is_answering(self) -> bool:
        return self._busy.is_set()

    def shutdown(self) -> None:
        """Stop the answer, end the engine's process (terminated if it does not exit within seconds)."""
        self._relay.shutdown()
