"""The app's side of the engine's process: starts it, sends it commands, turns its messages into signals.

The relay lives as long as the EngineBridge. The first load starts an engine process
(app/engine_process.py) with multiprocessing's spawn, never fork (Qt runs threads of its own);
the first load after that process died starts a fresh one. Plain threads do all the waiting, so
the GUI thread never blocks on the pipe:

* the sender takes commands off a queue, in order: it starts the process, reads a question's files
  (``turns`` may be a callable), pickles (screenshots and clips once per object,
  app/engine_media.py) and writes;
* one receiver per process reads its messages and emits them as this object's signals (their
  connections to the bridge queue them to the GUI thread); it acknowledges each piece once its
  signal has been emitted.

When the process dies unexpectedly (killed, crashed, out of memory: its pipe ends), the answers
asked of it fail and the model is reported gone (``loadFailed``, also when it died idle), with a
message that says so; questions asked
afterwards fail the same way until a load starts a new process.
"""

import logging
import multiprocessing
import pickle
import queue
import signal
import threading

from app import engine_process
from app.engine_media import PROTOCOL, MediaSender
from ui.qt import QObject, Signal

log = logging.getLogger(__name__)
EXIT_WAIT_S = 5.0  # for the process to end once asked to, before it is terminated


class EngineRelay(QObject):
    loadProgress = Signal(str, float)
    loaded = Signal(object)  # EngineInfo
    loadFailed = Signal(str)
    piece = Signal(str, str)  # request id, text: emitted on the receiver's thread
    answered = Signal(str, str, object)  # request id, finish reason, Stats
    answerFailed = Signal(str, str)  # request id, message
    prefilled = Signal(int)  # tokens newly prefilled (0: nothing to do, or it failed)

    def __init__(self):
        super().__init__()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards what the sender, the receivers and the GUI thread share:
        self._child: _Child | None = None  # the running engine process
        self._stopped: str | None = None  # why the last one died, for questions asked since
        self._next_prefill = None  # the newest (turns, detail) not sent yet
        self._prefilling = False  # a prefill is queued or running
        self._sender = threading.Thread(target=self._send_loop, name="seesay-engine-send", daemon=True)
        self._sender.start()

    # -- from the GUI thread ---------------------------------------------------------------------
    def load(self, options) -> None:
        self._commands.put(("load", options))

    def ask(self, request_id: str, turns, settings) -> None:
        with self._lock:
            self._next_prefill = None  # the answer prefills all of it anyway
        self._commands.put(("ask", request_id, turns, settings))

    def cancel(self) -> None:
        self._commands.put(("send", ("cancel",)))

    def forget(self) -> None:
        self._commands.put(("send", ("forget",)))

    def prefill(self, turns, detail: int) -> None:
        """Requests made while one is queued or runs are merged: only the newest is sent after it."""
        with self._lock:
            self._next_prefill = (turns, detail)
            if self._prefilling:
                return
            self._prefilling = True
        self._commands.put(("prefill",))

    def shutdown(self) -> None:
        """Cancel, ask the process to exit, wait for it (terminate it if it does not end)."""
        if self._sender.is_alive():
            self._commands.put(("shutdown",))
            self._sender.join()

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.process.pid if child is not None else None

    @property
    def media_sent(self) -> int:
        """Screenshots and clips the running process was sent in full (not as a token)."""
        child = self._child
        return child.media.sent if child is not None else 0

    # -- the sender thread -----------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            command = self._commands.get()
            if command[0] == "shutdown":
                self._stop_child()
                return
            try:
                getattr(self, "_do_" + command[0])(*command[1:])
            except Exception:  # noqa: BLE001 - one command's bug must not stop the relay
                log.exception("the engine relay could not handle %s", command[0])

    def _do_load(self, options) -> None:
        with self._lock:
            child = self._child
            if child is not None and not child.ended:
                child.loads += 1
            else:
                child = None
        if child is None:  # none yet, or the last one died: a fresh process
            try:
                child = _Child(self)
            except Exception as error:  # noqa: BLE001 - e.g. too many processes, a broken install
                log.exception("the engine's process could not start")
                self.loadFailed.emit(f"The model's process could not start ({type(error).__name__}: {error}).")
                return
            with self._lock:
                self._child, self._stopped = child, None
                child.loads += 1
        child.send("load", options)

    def _do_ask(self, request_id: str, turns, settings) -> None:
        child = self._child
        if child is None:
            self.answerFailed.emit(request_id, self._stopped or engine_process.NOT_LOADED)
            return
        try:
            if callable(turns):
                turns = turns()
        except Exception as error:  # noqa: BLE001 - e.g. a screenshot that cannot be read
            log.exception("the question's files could not be read")
            self.answerFailed.emit(request_id, engine_process.message_for(error))
            return
        with self._lock:
            ended = child.ended
            if not ended:
                child.asks.append(request_id)
        if ended:  # it died just now
            self.answerFailed.emit(request_id, self._stopped or engine_process.NOT_LOADED)
            return
        try:
            child.send("ask", request_id, turns, settings, media=True)
        except Exception as error:  # noqa: BLE001 - something in the question that cannot be pickled
            log.exception("the question could not be sent to the model")
            if child.claim(request_id, self._lock):
                self.answerFailed.emit(request_id, engine_process.message_for(error))

    def _do_prefill(self) -> None:
        with self._lock:
            job, self._next_prefill = self._next_prefill, None
            child = self._child
            if job is None or child is None:
                self._prefilling = False
                return
        try:
            child.send("prefill", *job, media=True)
        except Exception:  # noqa: BLE001 - only speed is lost
            log.exception("a prefill could not be sent")
            with self._lock:
                self._prefilling = False

    def _do_send(self, message: tuple) -> None:
        child = self._child
        if child is not None:
            child.send(*message)

    def _do_ack(self, child: "_Child") -> None:
        if child is self._child:
            child.send("ack")

    def _stop_child(self) -> None:
        child = self._child
        if child is None:
            return
        with self._lock:
            child.closing = True
        child.send("cancel")
        child.send("exit")
        process = child.process
        process.join(EXIT_WAIT_S)
        if process.is_alive():
            log.warning("the engine's process did not exit; terminating it")
            process.terminate()
            process.join(EXIT_WAIT_S)
        if process.is_alive():
            process.kill()
            process.join()
        child.receiver.join()
        child.conn.close()
        with self._lock:
            self._child = None

    # -- a receiver thread -----------------------------------------------------------------------
    def _receive_loop(self, child: "_Child") -> None:
        try:
            while True:
                message = pickle.loads(child.conn.recv_bytes())
                self._received(child, *message)
        except (EOFError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a message that cannot be read: stop that process
            log.exception("a message from the model's process could not be read")
            child.process.kill()
        self._ended(child)

    def _received(self, child: "_Child", kind: str, *args) -> None:
        if kind == "log":
            record = args[0]
            logging.getLogger(record.name).handle(record)
        elif kind == "piece":
            self.piece.emit(*args)
            self._commands.put(("ack", child))
        elif kind == "progress":
            self.loadProgress.emit(*args)
        elif kind in ("loaded", "load_failed"):
            with self._lock:
                child.loads -= 1
            (self.loaded if kind == "loaded" else self.loadFailed).emit(*args)
        elif kind in ("answered", "failed"):
            if child.claim(args[0], self._lock):
                (self.answered if kind == "answered" else self.answerFailed).emit(*args)
        elif kind == "prefilled":
            self.prefilled.emit(*args)
            with self._lock:
                again = self._next_prefill is not None
                self._prefilling = again
            if again:
                self._commands.put(("prefill",))

    def _ended(self, child: "_Child") -> None:
        child.process.join(EXIT_WAIT_S)  # its pipe has ended: it has exited, or is about to
        if child.process.is_alive():
            child.process.kill()
            child.process.join()
        code = child.process.exitcode
        with self._lock:
            child.ended = True
            asks, child.asks = child.asks, []
            child.loads = 0
            expected = child.closing
            if self._child is child:
                self._child = None
                self._next_prefill, self._prefilling = None, False
            if not expected:
                self._stopped = message = stopped_message(code)
        if expected:
            return
        log.error("the model's process stopped (exit code %s)", code)
        for request_id in asks:
            self.answerFailed.emit(request_id, message)
        # Loading or not, the model is gone: the status line must not go on saying "Ready".
        self.loadFailed.emit(message)


class _Child:
    """One engine process, its pipe, and what was asked of it that has not finished yet."""

    def __init__(self, relay: EngineRelay):
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=engine_process.serve, name="seesay-engine", daemon=True,
                                       args=(theirs, logging.getLogger().getEffectiveLevel()))
        self.process.start()
        theirs.close()  # or the pipe would never end when the process dies
        self.media = MediaSender()
        self.asks: list[str] = []  # request ids sent, not answered yet
        self.loads = 0  # loads sent, not finished yet
        self.closing = False  # asked to exit: the end of the pipe is expected
        self.ended = False
        self.receiver = threading.Thread(target=relay._receive_loop, args=(self,), name="seesay-engine-receive",
                                         daemon=True)
        self.receiver.start()

    def send(self, *message, media: bool = False) -> None:
        """Write ``message`` (on the sender's thread only). A process that has died is not written to:
        its receiver reports what was lost."""
        frames = self.media.encode(message) if media else [pickle.dumps(message, PROTOCOL)]
        try:
            for frame in frames:
                self.conn.send_bytes(frame)
        except OSError:
            log.debug("the model's process is gone; its receiver reports it")

    def claim(self, request_id: str, lock: threading.Lock) -> bool:
        """True once per request: whoever claims it reports how it ended."""
        with lock:
            if request_id in self.asks:
                self.asks.remove(request_id)
                return True
            return False


def stopped_message(code: int | None) -> str:
    """What the user is told when the model's process dies; their question stays in the history."""
    again = "Restart Seesay to load the model again (changing the quantization in Settings reloads it too)."
    if code == -9:  # SIGKILL: what the kernel's out-of-memory killer sends
        return (f"The model's process was stopped (exit code {code}): most likely the computer ran out of "
                f"memory. {again} int4 needs the least memory; closing other programs helps.")
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "a signal"
        return f"The model's process crashed (exit code {code}, {name}). {again} The log has the details."
    return f"The model's process stopped unexpectedly (exit code {code}). {again} The log has the details."
