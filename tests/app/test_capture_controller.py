"""Screen questions and voice through the whole app: capture -> chip -> question -> engine, the quick-ask
popup, and push-to-talk with a real (virtual) microphone. Qt runs offscreen; screenshots come from the
test session's real X server (mss reads it), the microphone from PulseAudio."""

import numpy as np
import pytest
import soundfile

from tests.app.desktop_kit import ANSWER_TIMEOUT_MS, make_desktop, tiny_settings, wait_ready
from ui.qt import QtCore, Qt

AUDIO_TOKENS_PER_S = 25  # 640 samples of 16 kHz audio per soft token


@pytest.fixture
def ready(qtbot, desktop):
    wait_ready(qtbot, desktop)
    desktop.chat.new_conversation()
    yield desktop
    desktop.popup.hide()
    for chip in desktop.window.input_bar.attachment_ids():
        desktop.window.input_bar.remove_attachment(chip)
    desktop.chat.pending.clear()


def last_exchange(desktop):
    question, answer = desktop.store.messages(desktop.chat.conversation_id)[-2:]
    assert (question.role, answer.role) == ("user", "assistant")
    return question, answer


def best_match(recording: np.ndarray, played: np.ndarray) -> float:
    """The normalised cross-correlation of the played clip at its best offset in the recording."""
    n = len(recording) + len(played)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(played, size)), size)
    offset = int(np.argmax(corr[: len(recording)]))
    window = recording[offset: offset + len(played)]
    played = played[: len(window)]
    return float(np.dot(window, played) / (np.linalg.norm(window) * np.linalg.norm(played) + 1e-9))


# -- push-to-talk ------------------------------------------------------------------------------

@pytest.mark.mic
def test_push_to_talk_sends_the_spoken_question_to_the_engine(qtbot, ready, virtual_mic, speech_wav):
    desktop = ready
    spoken, rate = soundfile.read(speech_wav, dtype="float32")
    assert rate == 16_000
    seconds = len(spoken) / rate
    # As the app does at start: the stream runs before the key goes down (pre-roll is filling).
    assert desktop.capture.warm_microphone()
    qtbot.waitUntil(lambda: desktop.capture.microphone._pre_roll_frames > 0, timeout=10_000)

    with qtbot.waitSignal(desktop.capture.recordingChanged, timeout=10_000) as started:
        desktop.capture.talk_pressed()
    assert started.args == [True] and desktop.capture.microphone.is_recording
    virtual_mic.play(speech_wav)
    with qtbot.waitSignal(desktop.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
        desktop.capture.talk_released()
        # The post-roll (0.25 s more sound) is waited for off the GUI thread: the release returned
        # while it is still being recorded, and a second press meanwhile starts nothing.
        assert desktop.capture._finishing and desktop.chat.conversation_id is None
        desktop.capture.talk_pressed()
    assert done.args[0] in ("stop", "length"), done.args
    assert not desktop.capture.microphone.is_recording

    question, answer = last_exchange(desktop)
    [voice] = question.attachments
    assert voice.kind == "audio" and question.text == ""
    # Nothing is cut; the pre-roll (when the stream was already open), the player's start-up and the
    # post-roll add a little.
    mic = desktop.capture.microphone
    slack = mic.pre_roll_seconds + mic.post_roll_seconds + 0.3
    assert seconds - 0.05 <= voice.seconds <= seconds + slack, (voice.seconds, seconds)
    recorded, recorded_rate = soundfile.read(voice.path, dtype="float32")
    assert recorded_rate == 16_000
    assert best_match(recorded, spoken) > 0.9  # the whole clip is in the recording
    assert abs(answer.stats["prompt_tokens"]["audio"] - voice.seconds * AUDIO_TOKENS_PER_S) <= 2
    assert answer.stats["prompt_tokens"].get("image", 0) == 0  # include_screen_with_voice is off


@pytest.mark.mic
@pytest.mark.x11
def test_push_to_talk_with_the_screen_sends_the_screenshot_taken_at_key_down(qtbot, ready, virtual_mic,
                                                                            speech_wav, x11):
    desktop = ready
    desktop.models.update_settings({"include_screen_with_voice": True})
    try:
        desktop.capture.talk_pressed()
        virtual_mic.play(speech_wav)
        with qtbot.waitSignal(desktop.chat.answerDone, timeout=ANSWER_TIMEOUT_MS):
            desktop.capture.talk_released()
    finally:
        desktop.models.update_settings({"include_screen_with_voice": False})
    question, answer = last_exchange(desktop)
    assert [a.kind for a in question.attachments] == ["image", "audio"]
    assert (question.attachments[0].width, question.attachments[0].height) == (1280, 800)
    assert answer.stats["prompt_tokens"]["image"] > 0 and answer.stats["prompt_tokens"]["audio"] > 0


@pytest.mark.mic
def test_a_tap_on_the_talk_key_asks_nothing(qtbot, ready, virtual_mic):
    """Pre-roll and post-roll make even a tap last most of a second: the tap is told by the time held."""
    desktop = ready
    desktop.capture.talk_pressed()
    with qtbot.assertNotEmitted(desktop.chat.answerStarted, wait=0):
        with qtbot.waitSignal(desktop.capture.recordingChanged, timeout=10_000) as stopped:
            desktop.capture.talk_released()
    assert stopped.args == [False] and not desktop.capture.microphone.is_recording
    assert desktop.chat.conversation_id is None and desktop.window.input_bar.attachment_ids() == []


def test_a_missing_microphone_is_explained_and_the_talk_button_greyed(qtbot, ready):
    desktop = ready
    desktop.models.update_settings({"microphone": "No Such Microphone 9000"})
    try:
        with qtbot.assertNotEmitted(desktop.capture.recordingChanged, wait=0):
            desktop.capture.talk_pressed()
    finally:
        desktop.models.update_settings({"microphone": None})
    message = desktop.window.banner.text()
    assert desktop.window.banner.kind == "error" and "microphone" in message.lower()
    assert not desktop.window.input_bar.talk_button.isEnabled()
    assert desktop.window.input_bar.talk_button.toolTip() == message
    desktop.capture.talk_released()  # a release after a failed press does nothing
    desktop.window.input_bar.set_talk_available(True)


# -- the screen --------------------------------------------------------------------------------

@pytest.mark.x11
def test_capture_attaches_the_screen_and_the_question_carries_it(qtbot, ready, x11):
    desktop = ready
    bar = desktop.window.input_bar
    desktop.capture.capture("screen")
    assert not desktop.window.isVisible()  # Seesay's own window is not in the picture
    qtbot.waitUntil(lambda: bar.attachment_ids() != [], timeout=10_000)
    assert desktop.window.isVisible()  # and it is back
    [chip] = bar.attachment_ids()
    assert desktop.chat.pending[chip].image.size == (1280, 800)
    with qtbot.waitSignal(desktop.chat.answerDone, timeout=ANSWER_TIMEOUT_MS):
        assert desktop.chat.send("What is on my screen?")
    question, answer = last_exchange(desktop)
    assert [(a.kind, a.width, a.height) for a in question.attachments] == [("image", 1280, 800)]
    assert answer.stats["prompt_tokens"]["image"] > 0


@pytest.mark.x11
def test_capture_a_region_attaches_just_that_rectangle(qtbot, ready, x11):
    desktop = ready
    desktop.capture.capture("region")
    qtbot.waitUntil(lambda: getattr(desktop.capture, "_overlay", None) is not None, timeout=10_000)
    desktop.capture._overlay.regionSelected.emit(QtCore.QRect(100, 50, 300, 200))
    [chip] = desktop.window.input_bar.attachment_ids()
    assert desktop.chat.pending[chip].image.size == (300, 200)
    assert desktop.window.isVisible()


def _ask_in_popup(qtbot, desktop, text: str):
    popup = desktop.popup
    qtbot.waitUntil(popup.isVisible, timeout=10_000)
    assert popup.edit.hasFocus() or popup.focusProxy() is popup.edit
    qtbot.keyClicks(popup.edit, text)
    with qtbot.waitSignal(desktop.chat.answerDone, timeout=ANSWER_TIMEOUT_MS):
        qtbot.keyClick(popup.edit, Qt.Key.Key_Return)


@pytest.mark.x11
def test_ask_screen_popup_shows_the_screenshot_and_streams_the_answer(qtbot, ready, x11):
    desktop = ready
    popup = desktop.popup
    desktop.capture.ask_screen()
    qtbot.waitUntil(popup.isVisible, timeout=10_000)
    assert popup._chip is not None and popup._chip.attachment.label == "Screen 1280×800"

    _ask_in_popup(qtbot, desktop, "what is this")

    question, answer = last_exchange(desktop)
    assert question.text == "what is this"
    assert [(a.kind, a.width, a.height) for a in question.attachments] == [("image", 1280, 800)]
    assert popup.isVisible() and not popup.is_busy()
    assert answer.text and popup.answer_view.toPlainText().strip()

    _ask_in_popup(qtbot, desktop, "and the follow-up?")  # same conversation, no second screenshot
    messages = desktop.store.messages(desktop.chat.conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"] * 2
    assert messages[2].attachments == [] and messages[3].stats["reused_tokens"] > 0


@pytest.mark.x11
def test_a_screenshot_removed_in_the_popup_is_not_sent(qtbot, ready, x11):
    desktop = ready
    desktop.capture.ask_screen()
    qtbot.waitUntil(desktop.popup.isVisible, timeout=10_000)
    desktop.popup._chip.removeRequested.emit("screenshot")  # the chip's ✕
    _ask_in_popup(qtbot, desktop, "just text")
    question, answer = last_exchange(desktop)
    assert question.attachments == []
    assert answer.stats["prompt_tokens"].get("image", 0) == 0


def test_popup_question_before_the_model_is_ready_says_so(qtbot, qapp, tiny, tmp_path):
    desktop = make_desktop(qapp, tiny_settings(tiny), tmp_path)  # the model is never loaded
    try:
        popup = desktop.popup
        popup.show_near(QtCore.QPoint(10, 10))
        qtbot.keyClicks(popup.edit, "are you there?")
        qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: "not loaded" in popup.answer_view.toPlainText(), timeout=5000)
        assert not popup.is_busy()  # ready for the question again, not stuck at "Thinking…"
        assert desktop.store.list_conversations() == []
    finally:
        desktop.shutdown()
        desktop.window.close()
        desktop.popup.close()


# -- the commands a second launch sends (`seesay --talk`, `--ask-screen`, plain `seesay`) ----------

@pytest.mark.mic
def test_the_talk_command_starts_then_stops_and_sends(qtbot, ready, virtual_mic, speech_wav):
    desktop = ready
    desktop.on_command("talk")
    assert desktop.capture.microphone.is_recording
    virtual_mic.play(speech_wav)
    with qtbot.waitSignal(desktop.chat.answerDone, timeout=ANSWER_TIMEOUT_MS):
        desktop.on_command("talk")
    question, _answer = last_exchange(desktop)
    assert [a.kind for a in question.attachments] == ["audio"]


def test_the_show_command_brings_the_window_back(qtbot, ready):
    desktop = ready
    desktop.window.hide()
    desktop.popup.show_near(QtCore.QPoint(10, 10))
    desktop.on_command("show")
    assert desktop.window.isVisible() and not desktop.popup.isVisible()
