"""Screen questions and voice: capture the screen, the quick-ask popup, push-to-talk.

Seesay's own windows never appear in a capture: they are hidden for the grab (and on Windows and
macOS also excluded from capture, see app/capture/exclude.py). A push-to-talk recording starts from
the microphone's pre-roll, so the first word is kept; with "include screen with voice" the
screenshot is taken the moment the key goes down.
"""

import logging
import shutil
import subprocess
import threading

from app.capture import screen
from app.capture.microphone import Microphone, MicrophoneError
from app.chat_controller import pil_to_qimage
from inference.errors import SeesayError
from ui.qt import QObject, QtCore, QtGui, QTimer, Signal

log = logging.getLogger(__name__)
HIDE_FOR_CAPTURE_MS = 150  # lets the window manager repaint what our windows covered
PREFILL_EVERY_MS = 1000


class CaptureController(QObject):
    recordingChanged = Signal(bool)
    _recorded = Signal(object, str)  # samples (or None), error message: from the post-roll thread

    def __init__(self, window, chat, popup, settings_source):
        super().__init__(window)
        self.window, self.chat, self.popup, self.settings = window, chat, popup, settings_source
        self.microphone: Microphone | None = None
        self._talk_screenshot = None
        self._talk_from_popup = False
        self._finishing = False  # a released recording is waiting for its post-roll
        self._recorded.connect(self._ask_recorded)
        self._meter = QTimer(self)
        self._meter.setInterval(100)
        self._meter.timeout.connect(self._update_meter)
        # While the user speaks, the screenshot and the audio so far are prefilled (figure 3 in
        # bench/): the wait after the key is released then hardly grows with the utterance.
        self._prefill_timer = QTimer(self)
        self._prefill_timer.setInterval(PREFILL_EVERY_MS)
        self._prefill_timer.timeout.connect(self._prefill)
        bar = window.input_bar
        bar.captureRequested.connect(self.capture)
        bar.talkPressed.connect(self.talk_pressed)
        bar.talkReleased.connect(self.talk_released)
        popup.sendRequested.connect(self._popup_send)
        popup.screenshotRemoved.connect(self._drop_popup_image)
        popup.openMainRequested.connect(self.show_main)
        chat.answerPiece.connect(self._popup_piece)
        chat.answerDone.connect(self._popup_done)

    # -- screen ------------------------------------------------------------------------------------
    def capture(self, mode: str, then=None) -> None:
        """Grab the screen ("screen": the one under the cursor, "region", "window") and attach it."""
        if mode == "region":
            self._hidden(lambda: self._select_region(then))
            return
        self._hidden(lambda: self._grab(mode, then))

    def _grab(self, mode: str, then) -> None:
        try:
            pos = QtGui.QCursor.pos()
            ratio = _ratio_at(pos)
            if mode == "window" and (geometry := _active_window_geometry()) is not None:
                image = screen.grab_region(*geometry)
            else:
                image = screen.grab_screen_at(int(pos.x() * ratio), int(pos.y() * ratio))
        except SeesayError as error:
            self._restore()
            self.window.show_error(str(error))
            return
        self._restore()
        if then is not None:
            then(image)
        else:
            self.chat.attach_image(image)

    def _select_region(self, then) -> None:
        """A full-screen overlay over a frozen screenshot (X11 without a compositor draws no
        translucency); the rectangle comes back in the pixels mss uses on this platform."""
        import sys

        from ui.region_overlay import RegionOverlay

        try:
            backdrop = pil_to_qimage(screen.grab_all(), max_side=1 << 15)
        except SeesayError as error:
            self._restore()
            self.window.show_error(str(error))
            return
        overlay = RegionOverlay()
        self._overlay = overlay

        def chosen(rect: QtCore.QRect):
            overlay.close()
            try:
                image = screen.grab_region(rect.x(), rect.y(), rect.width(), rect.height())
            except SeesayError as error:
                self._restore()
                self.window.show_error(str(error))
                return
            self._restore()
            (then or self.chat.attach_image)(image)

        # mss works in points on macOS and in physical pixels elsewhere.
        signal = overlay.regionSelectedLogical if sys.platform == "darwin" else overlay.regionSelected
        signal.connect(chosen)
        overlay.cancelled.connect(lambda: (overlay.close(), self._restore()))
        overlay.show_over_screens(backdrop)

    def _hidden(self, action) -> None:
        self._was_visible = [w for w in (self.window, self.popup) if w.isVisible()]
        for w in self._was_visible:
            w.hide()
        if self._was_visible:
            QTimer.singleShot(HIDE_FOR_CAPTURE_MS, action)
        else:
            action()

    def _restore(self) -> None:
        for w in getattr(self, "_was_visible", []):
            if w is self.window:
                w.show()
        self._was_visible = []

    # -- the "ask about screen" hotkey -------------------------------------------------------------
    def ask_screen(self) -> None:
        """Like the hotkey: the screen under the cursor, the quick-ask popup beside it, caret in it."""
        pos = QtGui.QCursor.pos()

        def show(image):
            self._popup_image = image
            # Full size: the popup scales its thumbnail itself, and its label names the size sent.
            self.popup.show_near(pos, pil_to_qimage(image, max(image.size)))

        self.capture("screen", then=show)

    def _drop_popup_image(self) -> None:
        """The user removed the screenshot from the popup: the question goes without it."""
        self._popup_image = None

    def _popup_send(self, text: str) -> None:
        image = getattr(self, "_popup_image", None)
        if image is not None:
            self.chat.attach_image(image)
            self._popup_image = None
        self._popup_active = self.chat.send(text)
        if not self._popup_active:  # e.g. the model is still loading: say why, take the question again
            message = self.window.banner.text() or "Seesay could not ask that; see its main window."
            QTimer.singleShot(0, lambda: self.popup.show_error(message))  # after the popup shows "Thinking…"

    def _popup_piece(self, text: str) -> None:
        if getattr(self, "_popup_active", False) and self.popup.isVisible():
            self.popup.append_answer(text)

    def _popup_done(self, finish: str, message: str) -> None:
        if getattr(self, "_popup_active", False):
            self._popup_active = False
            if finish == "error":
                self.popup.show_error(message)
            else:
                self.popup.set_answer_done()

    def show_main(self) -> None:
        self.popup.hide()
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    # -- push-to-talk ------------------------------------------------------------------------------
    def _mic(self) -> Microphone:
        settings = self.settings()
        if self.microphone is None or self.microphone.device_name != settings.microphone:
            if self.microphone is not None:
                self.microphone.close()
            self.microphone = Microphone(settings.microphone, max_seconds=settings.max_recording_seconds,
                                         on_max_length=lambda: QTimer.singleShot(0, self.talk_released))
        return self.microphone

    def warm_microphone(self) -> bool:
        """Open the input stream ahead of the first push-to-talk: a stream's first moments can
        arrive a second or more late, and the pre-roll only keeps the first word once it runs.
        Not on macOS, where an open stream keeps the microphone indicator lit."""
        try:
            self._mic().open()
            return True
        except MicrophoneError as error:
            self.window.input_bar.set_talk_available(False, str(error))
            return False

    def talk_pressed(self) -> None:
        if self._finishing or (self.microphone is not None and self.microphone.is_recording):
            return
        try:
            self._mic().start_recording()
        except MicrophoneError as error:
            self.window.show_error(str(error))
            self.window.input_bar.set_talk_available(False, str(error))
            return
        self._talk_screenshot = None
        if self.settings().include_screen_with_voice:
            try:
                pos = QtGui.QCursor.pos()
                ratio = _ratio_at(pos)
                self._talk_screenshot = screen.grab_screen_at(int(pos.x() * ratio), int(pos.y() * ratio))
            except SeesayError as error:
                log.info("no screenshot with this voice question: %s", error)
        self._meter.start()
        self._prefill()
        self._prefill_timer.start()
        self.recordingChanged.emit(True)

    def talk_released(self) -> None:
        mic = self.microphone
        if mic is None or not mic.is_recording or self._finishing:
            return
        self._meter.stop()
        self._prefill_timer.stop()
        self.window.input_bar.set_recording_state(False)
        self.recordingChanged.emit(False)
        # Held under 0.1 s: a tap, not a question. Told by the time held, not by the samples: pre-roll
        # and post-roll make every recording last most of a second.
        if mic.elapsed < 0.1:
            mic.cancel_recording()
            return
        # The post-roll (the last syllable said as the key comes up) takes a quarter of a second of
        # sound: waited for on a thread of its own, the window stays responsive meanwhile.
        self._finishing = True
        threading.Thread(target=self._finish_recording, args=(mic,), name="seesay-post-roll", daemon=True).start()

    def _finish_recording(self, mic: Microphone) -> None:  # on the post-roll thread
        try:
            self._recorded.emit(mic.stop_recording(), "")
        except MicrophoneError as error:
            self._recorded.emit(None, str(error))
        except Exception as error:  # noqa: BLE001 - push-to-talk must stay usable: say it, go on
            log.exception("finishing the recording failed")
            self._recorded.emit(None, f"The recording could not be finished ({type(error).__name__}: {error}).")

    def _ask_recorded(self, samples, error: str) -> None:
        self._finishing = False
        if error:
            self.window.show_error(error)
            return
        if samples is None or len(samples) < 1600:
            return
        if self._talk_screenshot is not None:
            self.chat.attach_image(self._talk_screenshot)
        self.chat.attach_audio(samples, 16_000)
        self.chat.send("")

    def _prefill(self) -> None:
        mic = self.microphone
        if mic is None or not mic.is_recording or mic.sample_rate != 16_000:
            return  # resampling a growing prefix would not give the final recording's samples
        turns = self.chat.draft_turns(self._talk_screenshot, mic.recorded_so_far(), 16_000)
        if turns:
            self.chat.bridge.prefill(turns, self.window.input_bar.detail())

    def _update_meter(self) -> None:
        mic = self.microphone
        if mic is None or not mic.is_recording:
            return
        bar = self.window.input_bar
        bar.set_level(min(1.0, mic.level * 4))
        bar.set_recording_state(True, mic.elapsed, self.settings().max_recording_seconds)

    def shutdown(self) -> None:
        if self.microphone is not None:
            self.microphone.close()


def _ratio_at(pos: QtCore.QPoint) -> float:
    found = QtGui.QGuiApplication.screenAt(pos) or QtGui.QGuiApplication.primaryScreen()
    return found.devicePixelRatio() if found else 1.0


def _active_window_geometry():
    """The focused window's (left, top, width, height) on X11, when xdotool can tell."""
    if not shutil.which("xdotool"):
        return None
    try:
        out = subprocess.run(["xdotool", "getactivewindow", "getwindowgeometry", "--shell"],
                             capture_output=True, text=True, timeout=2, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])
    except (KeyError, ValueError):
        return None
