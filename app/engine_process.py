"""The engine's own process: it holds the loaded ``inference`` Engine and answers the app's commands.

The desktop app starts it with multiprocessing's spawn (app/engine_relay.py) and never imports torch
itself: importing torch holds the GIL for 30-60 ms at a time, which froze the window (bench: gui),
and a crash or an out-of-memory kill in the model took the window with it. Here the model can die
alone; the app says so, and its next load starts a fresh process. Nothing here imports Qt.

Messages are tuples ``(kind, ...)``. From the app: load, ask, prefill, forget, cancel, ack, exit (and
media bookkeeping, app/engine_media.py). To the app: progress, loaded, load_failed, piece,
answered, failed, prefilled, log (this process's log records: the app writes them to its own log).

A reader thread takes messages off the pipe. ``cancel`` is acted on at once (``Engine.cancel()`` only
sets a flag the engine reads between steps), and also stops an answer that was asked for but has not
started; the rest wait their turn for the main thread, which runs the engine. Each piece of an
answer waits until the app has taken it (a round trip of well under a millisecond, against tens per
token): the end of an answer is never reported ahead of its pieces, so a stop pressed while the app
handles a piece lands while the answer runs, as when the engine ran on a thread of the app (the
tests that stop mid-answer hold the app's side at a piece to rely on it).

The process runs at a lower scheduling priority than the app (``NICE``; below normal on Windows):
it keeps every core busy while it loads and answers, and the window's thread, which wakes for a
few milliseconds at a time, must get a core at once (bench: gui). With nothing else running, the
model runs as fast as before.
"""

import logging
import logging.handlers
import os
import pickle
import queue
import sys
import threading

from app.engine_media import PROTOCOL, MediaReceiver

log = logging.getLogger(__name__)
NOT_LOADED = "The model is not loaded yet."
NICE = 5  # POSIX niceness added to this process: the window is served first, the model right after


def serve(conn, log_level: int) -> None:
    """The process's main (multiprocessing's target): serve the app until it says exit."""
    import faulthandler

    if sys.stderr is not None:
        faulthandler.enable()  # a crash in native code leaves its stack on stderr
    channel = _Channel(conn)
    root = logging.getLogger()
    root.handlers[:] = [_LogToApp(channel)]
    root.setLevel(log_level)
    yield_to_the_app()
    try:
        _Server(channel).run()
    except _AppGone:
        pass


def yield_to_the_app() -> None:
    """Lower this process's scheduling priority below the app's; a system that refuses keeps it."""
    try:
        if sys.platform == "win32":
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            os.nice(NICE)
    except Exception as error:  # noqa: BLE001 - OSError, psutil.AccessDenied: the model runs either way
        log.warning("could not lower the engine's priority: %s", error)


def message_for(error: Exception) -> str:
    """What the user is told when loading or answering fails."""
    from inference.errors import SeesayError

    if isinstance(error, SeesayError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Seesay ran out of memory. Choose int4 in Settings, or close other programs."
    return f"Something went wrong: {type(error).__name__}: {error}. The log has the details."


class _AppGone(BaseException):
    """The pipe to the app is broken: the app quit or died, and nothing is left to do.

    A BaseException, like SystemExit: it must not be taken for an engine error by the ``except``
    clauses it passes through (a progress report fails inside ``load_engine``)."""


class _Channel:
    """The pipe to the app: whole messages, sent from any thread."""

    def __init__(self, conn):
        self.conn = conn
        self.media = MediaReceiver()
        self._lock = threading.Lock()

    def send(self, *message) -> None:
        data = pickle.dumps(message, PROTOCOL)
        try:
            with self._lock:
                self.conn.send_bytes(data)
        except (OSError, EOFError):
            raise _AppGone() from None

    def receive(self) -> tuple:
        while True:
            message = self.media.decode(self.conn.recv_bytes())
            if message is not None:
                return message


class _LogToApp(logging.handlers.QueueHandler):
    """Log records go to the app, which writes them to its one log file (one writer, one rotation)."""

    def __init__(self, channel: _Channel):
        super().__init__(None)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.channel.send("log", self.prepare(record))  # message formatted, traceback as text
        except _AppGone:
            pass
        except Exception:  # noqa: BLE001 - logging must never break the engine
            self.handleError(record)


class _Server:
    def __init__(self, channel: _Channel):
        self.channel = channel
        self.engine = None
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self._state = threading.Condition()
        self._taken = 0  # pieces the app has taken (acknowledged)
        self._asks_read = 0  # asks the reader has passed on
        self._cancelled_up_to = 0  # asks up to this one were cancelled before or while they ran
        self._leaving = False

    def run(self) -> None:
        threading.Thread(target=self._read, name="seesay-engine-commands", daemon=True).start()
        sent = 0
        while True:
            message = self.work.get()
            kind = message[0]
            if kind == "exit":
                return
            if kind == "ask":
                sent = self._ask(sent, *message[1:])
            else:
                getattr(self, "_" + kind)(*message[1:])

    # -- the reader thread -----------------------------------------------------------------------
    def _read(self) -> None:
        try:
            while True:
                message = self.channel.receive()
                kind = message[0]
                if kind == "cancel":
                    with self._state:
                        self._cancelled_up_to = self._asks_read
                    engine = self.engine
                    if engine is not None:
                        engine.cancel()
                elif kind == "ack":
                    with self._state:
                        self._taken += 1
                        self._state.notify_all()
                elif kind == "exit":
                    break
                else:
                    if kind == "ask":
                        with self._state:
                            self._asks_read += 1
                            message = (*message, self._asks_read)
                    self.work.put(message)
        except (EOFError, OSError):
            # The app is gone without a word (killed, crashed): nobody is left to answer, and a
            # load could go on for minutes holding gigabytes. Leave now.
            os._exit(0)
        except Exception:  # noqa: BLE001 - a message that cannot be read: the app must hear of it
            log.exception("a message from the app could not be read")
            os._exit(70)
        with self._state:
            self._leaving = True
            self._cancelled_up_to = self._asks_read
            self._state.notify_all()
        engine = self.engine
        if engine is not None:
            engine.cancel()
        self.work.put(("exit",))

    # -- the main thread -------------------------------------------------------------------------
    def _load(self, options) -> None:
        try:
            old, self.engine = self.engine, None
            del old  # free the previous model before loading another
            from inference.loader import load_engine

            engine = load_engine(options, progress=lambda what, fraction: self.channel.send("progress", what, fraction))
            self.engine = engine
            self.channel.send("loaded", engine.info)
        except Exception as error:  # noqa: BLE001 - every failure must reach the user
            log.exception("loading the model failed")
            self.channel.send("load_failed", message_for(error))

    def _ask(self, sent: int, request_id: str, turns, settings, number: int) -> int:
        """Answer, piece by piece; returns the number of pieces sent so far in this process."""
        if self.engine is None:
            self.channel.send("failed", request_id, NOT_LOADED)
            return sent
        if number <= self._cancelled_up_to:  # stopped while it waited its turn
            from inference.records import Stats

            self.channel.send("answered", request_id, "cancelled", Stats())
            return sent
        try:
            last = None
            for last in self.engine.stream(turns, settings):
                if number <= self._cancelled_up_to:  # stopped as it started: stream() had reset the flag
                    self.engine.cancel()
                if last.text:
                    sent += 1
                    self.channel.send("piece", request_id, last.text)
                    self._wait_until_taken(sent)
            self.channel.send("answered", request_id, last.finish_reason, last.stats)
        except Exception as error:  # noqa: BLE001
            log.exception("answering failed")
            self.channel.send("failed", request_id, message_for(error))
        return sent

    def _wait_until_taken(self, pieces: int) -> None:
        with self._state:
            self._state.wait_for(lambda: self._taken >= pieces or self._leaving)

    def _prefill(self, turns, detail: int) -> None:
        """Best effort: a failure here only costs speed; the answer itself reports real problems."""
        tokens = 0
        if self.engine is not None:
            try:
                tokens = self.engine.prefill(turns, detail)
            except Exception:  # noqa: BLE001
                log.debug("prefill skipped", exc_info=True)
        self.channel.send("prefilled", tokens)

    def _forget(self) -> None:
        if self.engine is not None:
            self.engine.forget()
