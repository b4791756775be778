"""End to end with the tiny random model: the whole app wired together (Desktop), in this process
(offscreen) and as real processes on a real X server; history survives restarts and crashes."""

import signal
import subprocess
import sys

import pytest

from app.settings import save_settings
from tests.app.desktop_kit import (ANSWER_TIMEOUT_MS, REPO, SeesayProcess, app_env, ask, close_window, copy_model,
                                   engine_held_at_first_piece,
                                   inet_sockets, make_desktop, offline_prefix, open_store, picture, poll,
                                   running_desktop, seesay, tiny_settings, truncate_a_shard, wait_ready)
from ui.conversation_list import ID_ROLE
from ui.view_models import MessageStatus


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("desktop-e2e")


@pytest.fixture(scope="module")
def desktop(qapp, tiny, home):
    """One Desktop with the tiny model loaded, shared by this module's in-process tests."""
    with running_desktop(qapp, tiny, home) as app:
        yield app


def listed_ids(desktop) -> list[str]:
    widget = desktop.window.conversations.list
    return [widget.item(i).data(ID_ROLE) for i in range(widget.count())]


def test_question_with_image_streams_is_stored_and_survives_restart(qtbot, qapp, tiny, home, desktop):
    wait_ready(qtbot, desktop)
    assert desktop.window.status_line.status.model_state == "Ready"
    desktop.chat.new_conversation()

    finish, pieces = ask(qtbot, desktop, "What is on this picture?", picture())

    assert finish in ("stop", "length")
    assert pieces and "".join(pieces)
    question, answer = desktop.store.messages(desktop.chat.conversation_id)
    assert (question.role, question.text, question.status) == ("user", "What is on this picture?", "complete")
    [image] = question.attachments
    assert (image.kind, image.width, image.height) == ("image", 320, 200) and image.path.is_file()
    assert (answer.role, answer.status) == ("assistant", "complete")
    assert answer.text == "".join(pieces)
    assert answer.stats["prompt_tokens"]["image"] > 0 and answer.stats["generated_tokens"] >= 1
    view = desktop.window.chat
    assert view.message_ids() == [str(question.id), str(answer.id)]
    assert view.bubble(str(answer.id)).text == answer.text
    expected = MessageStatus.TRUNCATED if finish == "length" else MessageStatus.DONE
    assert view.bubble(str(answer.id)).status == expected
    assert not desktop.window.input_bar.is_busy()
    assert desktop.window.input_bar.attachment_ids() == []
    assert str(desktop.chat.conversation_id) in listed_ids(desktop)

    # Restart: a new app on the same history lists the conversation and shows it when chosen.
    again = make_desktop(qapp, tiny_settings(tiny), home)
    try:
        cid = str(desktop.chat.conversation_id)
        assert listed_ids(again)[0] == cid
        again.window.conversations.conversationSelected.emit(cid)
        assert again.window.chat.message_ids() == [str(question.id), str(answer.id)]
        assert again.window.chat.bubble(str(answer.id)).text == answer.text
    finally:
        again.shutdown()
        again.window.close()


def test_stop_mid_answer_keeps_the_partial_text_and_the_next_question_works(qtbot, desktop):
    wait_ready(qtbot, desktop)
    desktop.models.update_settings({"max_answer_tokens": 400})
    try:
        desktop.chat.new_conversation()
        with engine_held_at_first_piece(desktop.bridge) as release:
            def stop_once(_piece):  # the first piece stops the answer
                desktop.chat.stop()
                release.set()
            desktop.chat.answerPiece.connect(stop_once)
            try:
                finish, pieces = ask(qtbot, desktop, "Tell me a long story.")
            finally:
                desktop.chat.answerPiece.disconnect(stop_once)
        assert finish == "cancelled"
        answer = desktop.store.messages(desktop.chat.conversation_id)[-1]
        assert answer.status == "cancelled"
        assert answer.text == "".join(pieces) != ""
        assert answer.stats["generated_tokens"] < 400
        assert desktop.window.chat.bubble(str(answer.id)).status == MessageStatus.STOPPED
    finally:
        desktop.models.update_settings({"max_answer_tokens": 8})

    finish, pieces = ask(qtbot, desktop, "And now a short one?")
    assert finish in ("stop", "length")
    assert desktop.store.messages(desktop.chat.conversation_id)[-1].status == "complete"


def test_a_follow_up_reuses_the_conversation_in_the_engine(qtbot, desktop):
    wait_ready(qtbot, desktop)
    desktop.chat.new_conversation()
    ask(qtbot, desktop, "Look at this.", picture("first"))
    ask(qtbot, desktop, "And what else?")

    messages = desktop.store.messages(desktop.chat.conversation_id)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    first, second = messages[1].stats, messages[3].stats
    assert first["reused_tokens"] == 0
    assert second["reused_tokens"] > sum(first["prompt_tokens"].values()) - 1
    assert second["prefilled_tokens"] < sum(second["prompt_tokens"].values()) - second["reused_tokens"] + 1
    assert second["prompt_tokens"]["image"] == first["prompt_tokens"]["image"]


def test_a_new_conversation_starts_from_an_empty_cache(qtbot, desktop):
    wait_ready(qtbot, desktop)
    desktop.chat.new_conversation()
    ask(qtbot, desktop, "One question.")
    desktop.window.conversations.newRequested.emit()  # Ctrl+N / "New chat"
    assert desktop.window.chat.message_ids() == []
    ask(qtbot, desktop, "Another question.")
    assert desktop.store.messages(desktop.chat.conversation_id)[-1].stats["reused_tokens"] == 0


def test_a_corrupt_model_leaves_history_and_settings_usable(qtbot, qapp, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SEESAY_HOME", str(tmp_path / "home"))  # the settings it saves
    broken = copy_model(tiny, tmp_path)
    truncate_a_shard(broken)
    store = open_store(tmp_path)
    earlier = store.create_conversation("Earlier chat")
    store.add_message(earlier.id, "user", "an earlier question")
    store.finish_answer(store.begin_answer(earlier.id), "an earlier answer")
    store.close()
    app = make_desktop(qapp, tiny_settings(tiny, model_dir=str(broken)), tmp_path)
    try:
        with qtbot.waitSignal(app.bridge.loadFailed, timeout=ANSWER_TIMEOUT_MS) as failed:
            app.models.start()
        message = failed.args[0]
        assert "safetensors" in message or "shard" in message.lower(), message
        assert "Traceback" not in message and "\n" not in message
        assert app.window.banner.isVisible() and app.window.banner.kind == "error"
        assert app.window.banner.text() == message
        assert app.window.status_line.status.model_state == "Model not loaded"

        # History: listed, opened, and a question is refused with a clear message (not lost).
        assert listed_ids(app) == [str(earlier.id)]
        app.window.conversations.conversationSelected.emit(str(earlier.id))
        assert len(app.window.chat.message_ids()) == 2
        app.window.input_bar.set_text("does this work?")
        assert not app.chat.send("does this work?")
        assert "not loaded" in app.window.banner.text()

        # Settings open; choosing a good model from them loads it.
        app.window.settingsRequested.emit()
        dialog = app.models._dialog
        assert dialog.isVisible()
        dialog.close()
        with qtbot.waitSignal(app.models.ready, timeout=ANSWER_TIMEOUT_MS):
            app.models.update_settings({"model_dir": str(tiny.model_dir)})
        assert app.chat.engine_ready
    finally:
        app.shutdown()
        app.window.close()


# -- Seesay as a real process -------------------------------------------------------------------

_LONG_ANSWER_APP = """
import sys
from ui.qt import QtWidgets
from app.desktop import Desktop
from app.settings import Settings
from app.store import HistoryStore

model, folder, conversation = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = QtWidgets.QApplication([])
settings = Settings(model_dir=model, max_answer_tokens=4000, temperature=0.0,
                    hotkey_ask_screen_enabled=False, hotkey_push_to_talk_enabled=False)
desktop = Desktop(app, settings=settings,
                  store=HistoryStore(f"{folder}/history.sqlite3", f"{folder}/attachments"))
desktop.window.show()


def ready(_info):
    desktop.chat.open_conversation(conversation)
    desktop.chat.send("Now tell me everything, at length.")


desktop.models.ready.connect(ready)
desktop.models.start()
app.exec()
"""


def test_a_crash_mid_answer_keeps_the_partial_answer_and_everything_before_it(qtbot, qapp, tiny, tmp_path):
    store = open_store(tmp_path)
    chat = store.create_conversation("Before the crash")
    first = store.add_message(chat.id, "user", "a first question", [picture("before")])
    store.finish_answer(store.begin_answer(chat.id), "a first answer", "complete", {"generated_tokens": 3})

    with SeesayProcess([sys.executable, "-c", _LONG_ANSWER_APP, str(tiny.model_dir), str(tmp_path), str(chat.id)],
                       app_env(tmp_path / "home", QT_QPA_PLATFORM="offscreen")) as app:
        def partial_text():
            last = store.messages(chat.id)[-1]
            return last.role == "assistant" and last.status == "partial" and last.text

        saved = poll(partial_text, 120, "a partial answer saved while streaming", app.proc)
        app.stop(signal.SIGKILL)
    store.close()

    store = open_store(tmp_path)
    messages = store.messages(chat.id)
    assert [(m.role, m.status) for m in messages] == [
        ("user", "complete"), ("assistant", "complete"), ("user", "complete"), ("assistant", "partial")]
    assert messages[0].text == "a first question" and messages[0].attachments[0].path.is_file()
    assert messages[0].attachments == first.attachments
    assert messages[1].text == "a first answer"
    assert messages[2].text == "Now tell me everything, at length."
    assert messages[3].text.startswith(saved)
    store.close()

    # The app after the crash shows the interrupted answer as such.
    again = make_desktop(qapp, tiny_settings(tiny), tmp_path)
    try:
        again.window.conversations.conversationSelected.emit(str(chat.id))
        bubble = again.window.chat.bubble(str(messages[3].id))
        assert bubble.text == messages[3].text
        assert bubble.status == MessageStatus.STOPPED
        assert "interrupted" in bubble.note.text()
    finally:
        again.shutdown()
        again.window.close()


def _start_seesay(tiny, home, display) -> SeesayProcess:
    env = app_env(home, QT_QPA_PLATFORM="xcb", DISPLAY=display)
    return SeesayProcess(offline_prefix() + seesay("--model", str(tiny.model_dir), "--print-startup-time"), env)


def popup_has_focus() -> bool:
    focused = subprocess.run(["xdotool", "getwindowfocus", "getwindowname"], capture_output=True, text=True)
    return focused.stdout.strip() == "Ask Seesay"  # fails while no window has the focus


def _answered_conversations(store) -> list[list]:
    """Conversations whose last answer is complete, oldest first."""
    done = []
    for conversation in reversed(store.list_conversations()):
        messages = store.messages(conversation.id)
        if messages and messages[-1].role == "assistant" and messages[-1].status == "complete":
            done.append(messages)
    return done


@pytest.mark.x11
@pytest.mark.slow
def test_real_x_ask_screen_then_restart_then_hotkey(tiny, tmp_path, x11, xdotool):
    """On a real X server, offline: `seesay --ask-screen` opens the popup with a screenshot, the typed
    question is answered and stored; after the app is killed and started again the conversation is
    still there, and the global hotkey opens the popup for the next question; closing the window quits."""
    home = tmp_path / "home"
    save_settings(tiny_settings(tiny, hotkey_ask_screen_enabled=True), home / "config" / "settings.json")
    env = app_env(home, QT_QPA_PLATFORM="xcb", DISPLAY=x11)

    with _start_seesay(tiny, home, x11) as app:
        app.wait_for_line("window visible after")
        app.wait_for_line("model ready after")
        second = subprocess.run(seesay("--ask-screen"), cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 0, second.stderr
        poll(popup_has_focus, 30, "the quick-ask popup, with the keyboard focus", app.proc)
        xdotool("type", "what is this")
        xdotool("key", "Return")
        store = open_store(home / "data")
        [messages] = poll(lambda: _answered_conversations(store), 60, "the answer in the history", app.proc)
        assert inet_sockets(app.proc.pid) == []  # no network socket, not even on loopback
        app.stop(signal.SIGTERM)  # as at logout: no chance to tidy up
    question, answer = messages
    assert question.text == "what is this"
    [shot] = question.attachments
    assert (shot.kind, shot.width, shot.height) == ("image", 1280, 800)
    assert answer.text and answer.stats["prompt_tokens"]["image"] > 0

    with _start_seesay(tiny, home, x11) as app:
        app.wait_for_line("model ready after")
        xdotool("key", "ctrl+shift+space")
        poll(popup_has_focus, 30, "the popup opened by the global hotkey", app.proc)
        xdotool("type", "and now?")
        xdotool("key", "Return")
        first, latest = poll(lambda: _answered_conversations(store)[1:] and _answered_conversations(store), 60,
                             "the second answer in the history", app.proc)
        xdotool("key", "Escape")  # closes the popup
        poll(lambda: not popup_has_focus(), 10, "the popup to close", app.proc)
        close_window("Seesay")  # the window manager's close button: Seesay quits (close_to_tray is off)
        assert app.finish(60) == 0, app.err()
    assert first == messages  # the first conversation is untouched
    assert latest[0].text == "and now?" and latest[0].attachments[0].kind == "image"
    assert "Traceback" not in app.err(), app.err()
    store.close()


@pytest.mark.x11
@pytest.mark.mic
@pytest.mark.slow
def test_real_x_push_to_talk_hotkey_sends_voice_and_screen(tiny, tmp_path, x11, xdotool, virtual_mic, speech_wav):
    """Hold the push-to-talk hotkey, speak into the (virtual) microphone, let go: the question reaches the
    model with the recording and the screenshot taken at key-down, offline."""
    import soundfile

    home = tmp_path / "home"
    save_settings(tiny_settings(tiny, hotkey_push_to_talk_enabled=True, include_screen_with_voice=True),
                  home / "config" / "settings.json")
    seconds = soundfile.info(str(speech_wav)).duration
    log = home / "logs" / "seesay.log"
    with _start_seesay(tiny, home, x11) as app:
        app.wait_for_line("model ready after")
        xdotool("keydown", "ctrl+alt+space")
        poll(lambda: log.exists() and "microphone:" in log.read_text(), 30, "the microphone to open", app.proc)
        virtual_mic.play(speech_wav)
        xdotool("keyup", "ctrl+alt+space")
        store = open_store(home / "data")
        [(question, answer)] = poll(lambda: _answered_conversations(store), 60, "the spoken question's answer",
                                    app.proc)
        app.stop(signal.SIGTERM)
    store.close()
    assert [a.kind for a in question.attachments] == ["image", "audio"] and question.text == ""
    assert seconds - 0.05 <= question.attachments[1].seconds <= seconds + 1.05
    assert answer.stats["prompt_tokens"]["audio"] >= int(seconds * 25)
    assert answer.stats["prompt_tokens"]["image"] > 0
