"""Child process for the GUI figures: the real app (``app.desktop.Desktop``), with a heartbeat.

``python -m bench.gui_app MODEL_DIR QUANTIZATION TOKENS OUT.json`` builds the app the way
``seesay`` does (window first, engine loading in its own process), while a 5 ms ``QTimer``
notes every gap in the GUI thread's event loop. Once the model is ready it attaches a screenshot
and asks a question through the chat controller, and quits when the answer is done. The gaps,
by phase (startup, loading, idle, answering), go to OUT.json.

Nothing here imports torch: the app's GUI process never does (the engine runs in a child process),
and neither may this one, or the stalls and the window time would be measured wrong.
"""

from __future__ import annotations

import json
import sys
import time

HEARTBEAT_MS = 5
QUESTION = "What is on this screen, and what should I do next?"
TIMEOUT_S = 900


def main(model_dir: str, quantization: str, tokens: int, out_path: str) -> int:
    from ui.qt import QtCore, QTimer, QtWidgets

    screenshot = _screenshot()  # before the clock starts: the app's own capture is figure 7's
    app = QtWidgets.QApplication([sys.argv[0]])
    beat = Heartbeat(QtCore, QTimer)
    from app.desktop import Desktop
    from app.settings import Settings, settings_from_dict
    import dataclasses

    settings = settings_from_dict(dict(
        dataclasses.asdict(Settings()), model_dir=model_dir, quantization=quantization, use_draft=False,
        max_answer_tokens=tokens, hotkey_push_to_talk_enabled=False))
    desktop = Desktop(app, model_override=model_dir, settings=settings)
    result = {"window_visible_s": None, "ready_s": None, "answer": None}

    def visible(seconds: float) -> None:
        result["window_visible_s"] = seconds
        beat.phase("loading")

    def ready(_info) -> None:
        result["ready_s"] = time.perf_counter() - beat.started
        beat.phase("idle")
        QTimer.singleShot(500, ask)

    def ask() -> None:
        beat.phase("answering")
        desktop.chat.attach_image(screenshot)
        if not desktop.chat.send(QUESTION):
            result["answer"] = "not sent"
            app.quit()

    def done(reason: str, message: str) -> None:
        result["answer"] = reason if reason != "error" else f"error: {message}"
        beat.phase("done")
        app.quit()

    desktop.bridge.loadProgress.connect(lambda what, _f: beat.note(what))
    desktop.chat.answerStarted.connect(lambda _r: beat.note("answer started"))
    first_piece = []
    desktop.chat.answerPiece.connect(lambda _t: first_piece or (first_piece.append(1), beat.note("first piece")))
    desktop.window_visible.connect(visible)
    desktop.models.ready.connect(ready)
    desktop.bridge.loadFailed.connect(lambda message: (result.update(answer=f"load failed: {message}"), app.quit()))
    desktop.chat.answerDone.connect(done)
    QTimer.singleShot(TIMEOUT_S * 1000, app.quit)
    beat.start()
    desktop.start()
    app.exec()
    desktop.shutdown()
    result["phases"] = beat.report()
    result["stalls"], result["events"] = beat.stalls, beat.events
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


class Heartbeat:
    """Max gap between ticks of a fast timer, per phase: how long the GUI thread was unresponsive."""

    def __init__(self, QtCore, QTimer):
        self.timer = QTimer()
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._tick)
        self.started = time.perf_counter()
        self.last = self.started
        self.current = "startup"
        self.gaps: dict[str, list[float]] = {}
        self.stalls: list[tuple[float, float, str]] = []  # (at s, gap ms, phase) of gaps over 30 ms
        self.events: list[tuple[float, str]] = []  # (at s, what): to tell what a stall came with

    def note(self, what: str) -> None:
        self.events.append((round(time.perf_counter() - self.started, 3), what))

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def phase(self, name: str) -> None:
        self._tick()
        self.current = name

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.setdefault(self.current, []).append(now - self.last)
        if now - self.last > 0.030:
            self.stalls.append((round(self.last - self.started, 3), round((now - self.last) * 1e3, 1), self.current))
        self.last = now

    def report(self) -> dict:
        out = {}
        for name, gaps in self.gaps.items():
            ordered = sorted(gaps)
            out[name] = {"ticks": len(gaps), "max_gap_ms": ordered[-1] * 1e3,
                         "p99_gap_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3,
                         "stalls_over_30ms": sum(g > 0.030 for g in gaps)}
        return out


def _screenshot():
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (2560, 1440), (40, 60, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((200, 150, 1400, 900), fill=(245, 245, 245), outline=(90, 90, 90))
    draw.text((230, 180), "Error: the file could not be saved", fill=(20, 20, 20))
    return image


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
