"""The conversation flow with the tiny model: the user's intents (send, stop, regenerate, edit and
resend, attach, switch, rename, delete, search) through the window's signals, into history and engine."""

import threading

import numpy as np
import pytest
import soundfile
from PIL import Image, ImageChops

from app.chat_controller import chip_image
from app.store import StoreError

from tests.app.desktop_kit import (ANSWER_TIMEOUT_MS, ask, engine_held_at_first_piece, picture,
                                   wait_ready)
from ui.conversation_list import ID_ROLE
from ui.view_models import MessageStatus


@pytest.fixture
def chat(qtbot, desktop):
    wait_ready(qtbot, desktop)
    desktop.window.conversations.newRequested.emit()
    yield desktop
    desktop.window.banner.dismiss()


def stored(desktop):
    return desktop.store.messages(desktop.chat.conversation_id)


def titles(desktop) -> list[str]:
    widget = desktop.window.conversations.list
    return [widget.item(i).text() for i in range(widget.count())]


def test_regenerate_replaces_the_last_answer(qtbot, chat):
    ask(qtbot, chat, "Say something.", picture())
    question, first = stored(chat)
    with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
        chat.window.chat.regenerateRequested.emit()
    assert done.args[0] in ("stop", "length")
    same_question, second = stored(chat)
    assert same_question == question and second.id != first.id
    assert second.text == first.text  # temperature 0: greedy, the same answer again
    assert chat.window.chat.message_ids() == [str(question.id), str(second.id)]


def test_edit_and_resend_replaces_the_question_and_keeps_its_attachments(qtbot, chat):
    ask(qtbot, chat, "What colour is this?", picture())
    old_question, _ = stored(chat)
    with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS):
        chat.window.chat.editResendRequested.emit("What shape is this?")
    question, answer = stored(chat)
    assert question.text == "What shape is this?" and question.id != old_question.id
    assert [(a.kind, a.width, a.height) for a in question.attachments] == [("image", 320, 200)]
    assert answer.status == "complete" and answer.stats["prompt_tokens"]["image"] > 0
    assert chat.window.chat.message_ids() == [str(question.id), str(answer.id)]


def test_a_question_and_its_attachments_are_stored_off_the_gui_thread(qtbot, chat, monkeypatch):
    stored_on = []
    add_message = chat.store.add_message

    def recording(*args):
        stored_on.append(threading.current_thread())
        return add_message(*args)

    monkeypatch.setattr(chat.store, "add_message", recording)
    image = picture("stored")
    chat.chat.attach_audio(np.full(16_000, 0.25, np.float32), 16_000)
    finish, _ = ask(qtbot, chat, "What is this?", image)
    assert finish in ("stop", "length")
    assert stored_on and threading.main_thread() not in stored_on
    question, answer = stored(chat)
    assert [(a.kind, a.width, a.height) for a in question.attachments] == [("audio", None, None), ("image", 320, 200)]
    audio, png = question.attachments
    samples, rate = soundfile.read(audio.path, dtype="float32")
    assert rate == 16_000 and np.allclose(samples, 0.25, atol=1e-4)
    with Image.open(png.path) as saved:
        assert ImageChops.difference(saved.convert("RGB"), image).getbbox() is None  # lossless, every pixel
    assert answer.stats["prompt_tokens"]["image"] > 0 and answer.stats["prompt_tokens"]["audio"] > 0
    assert chat.window.chat.message_ids() == [str(question.id), str(answer.id)]
    [shown] = chat.window.chat.bubble(str(question.id)).attachments.thumbnails
    assert shown.attachment.thumbnail_path == str(png.thumbnail) and png.thumbnail.is_file()
    assert chat.window.input_bar.attachment_ids() == [] and chat.chat.pending == {}


def test_the_input_chip_of_a_screenshot_is_made_from_a_cheap_small_copy():
    chip = chip_image(Image.new("RGB", (2560, 1440), (30, 120, 200)))
    assert (chip.width(), chip.height()) == (256, 144)  # enough for the 72 px chip
    assert chip.pixelColor(100, 70).getRgb()[:3] == (30, 120, 200)


def test_a_question_that_cannot_be_stored_stays_in_the_input_and_says_why(qtbot, chat, monkeypatch):
    def full_disk(*_args):
        raise StoreError("Seesay could not save to its history (disk full); free some disk space and try again.")

    monkeypatch.setattr(chat.store, "add_message", full_disk)
    chat.chat.attach_image(picture())
    chat.window.input_bar.set_text("Will this be kept?")
    with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
        assert chat.chat.send(chat.window.input_bar.text())
        assert chat.chat.is_answering()  # until it is stored, a second question waits
    assert done.args[0] == "error" and "disk space" in done.args[1]
    assert "disk space" in chat.window.banner.text() and not chat.chat.is_answering()
    assert chat.window.input_bar.text() == "Will this be kept?" and len(chat.window.input_bar.attachment_ids()) == 1
    assert stored(chat) == [] and chat.window.chat.message_ids() == []
    chat.window.input_bar.clear()
    chat.chat.pending.clear()


def test_an_edited_question_that_cannot_be_stored_comes_back_to_the_input(qtbot, chat, monkeypatch):
    ask(qtbot, chat, "What colour is this?", picture())

    def full_disk(*_args):
        raise StoreError("Seesay could not save to its history (disk full); free some disk space and try again.")

    monkeypatch.setattr(chat.store, "add_message", full_disk)
    with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
        chat.window.chat.editResendRequested.emit("What shape is this?")
    assert done.args[0] == "error" and "disk space" in chat.window.banner.text()
    assert chat.window.input_bar.text() == "What shape is this?"
    [chip] = chat.window.input_bar.attachment_ids()
    assert chat.chat.pending[chip].image.size == (320, 200)
    chat.window.input_bar.clear()
    chat.chat.pending.clear()


def test_while_a_question_is_stored_the_input_keeps_new_work_and_stop_means_do_not_answer(qtbot, chat, monkeypatch):
    """Storing takes a moment (a PNG to encode): what the user types or attaches meanwhile stays in
    the input, and Stop (Esc) pressed then keeps the question but starts no answer."""
    release = threading.Event()
    add_message = chat.store.add_message

    def held(*args):  # the real store, held until the test has typed, attached and pressed Stop
        release.wait(ANSWER_TIMEOUT_MS / 1000)
        return add_message(*args)

    monkeypatch.setattr(chat.store, "add_message", held)
    bar = chat.window.input_bar
    chat.chat.attach_image(picture("sent"))
    bar.set_text("The question being stored")
    try:
        with qtbot.assertNotEmitted(chat.chat.answerStarted):
            with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
                assert chat.chat.send(bar.text())
                assert bar.is_busy()  # Send became Stop at once
                chat.chat.attach_image(picture("attached meanwhile"))
                bar.set_text("A follow-up typed meanwhile")
                chat.window.chat.stopRequested.emit()
                release.set()
    finally:
        release.set()
    assert done.args[0] == "cancelled" and not bar.is_busy() and not chat.chat.is_answering()
    [question] = stored(chat)
    assert question.role == "user" and question.text == "The question being stored"
    assert bar.text() == "A follow-up typed meanwhile"
    [late_chip] = bar.attachment_ids()
    assert list(chat.chat.pending) == [late_chip]
    bar.clear()
    chat.chat.pending.clear()


def _when_shown(chat, action):
    """Run ``action`` just after the stored question is shown, before its answer begins."""
    seen = {}

    def shown(_message):  # connected after the controller's own slot: the bubble is in
        chat.chat.saver.saved.disconnect(shown)  # once: the app outlives the test
        seen["ids"] = chat.window.chat.message_ids()
        seen["answering"] = chat.chat.is_answering()
        action()

    chat.chat.saver.saved.connect(shown)
    return seen


def test_the_question_is_shown_a_turn_before_its_answer_and_stop_then_starts_none(qtbot, chat):
    seen = _when_shown(chat, chat.window.chat.stopRequested.emit)
    with qtbot.assertNotEmitted(chat.chat.answerStarted):
        with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
            assert chat.chat.send("Stopped between the question and its answer")
    [question] = stored(chat)
    assert seen == {"ids": [str(question.id)], "answering": True}  # still busy: no second question
    assert done.args[0] == "cancelled" and not chat.chat.is_answering()
    assert chat.window.chat.message_ids() == [str(question.id)] and not chat.window.input_bar.is_busy()


def test_new_conversation_pressed_between_the_question_and_its_answer_shows_that_answer(qtbot, chat):
    _when_shown(chat, chat.window.conversations.newRequested.emit)
    with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
        assert chat.chat.send("Answered in its own conversation")
    question, answer = stored(chat)
    assert done.args[0] in ("stop", "length") and question.text == "Answered in its own conversation"
    assert chat.window.chat.message_ids() == [str(question.id), str(answer.id)]


def test_with_keep_screenshots_off_a_conversations_screenshots_go_when_it_is_left(qtbot, chat):
    chat.models.update_settings({"keep_screenshots": False})
    try:
        ask(qtbot, chat, "What is this?", picture())
        cid = chat.chat.conversation_id
        question = stored(chat)[0]
        png, thumb = question.attachments[0].path, question.attachments[0].thumbnail
        ask(qtbot, chat, "And the colour?")  # while the conversation is open, follow-ups still see it
        assert png.is_file() and stored(chat)[-1].stats["prompt_tokens"]["image"] > 0
        chat.window.conversations.newRequested.emit()
        assert not png.exists() and not thumb.exists()
        chat.window.conversations.conversationSelected.emit(str(cid))  # back to it: it still answers
        finish, _ = ask(qtbot, chat, "What was it?")
        assert finish in ("stop", "length")
        assert stored(chat)[-1].stats["prompt_tokens"].get("image", 0) == 0  # told it was there, not shown
        assert [a.kind for a in stored(chat)[0].attachments] == ["image"]  # the history still lists it
    finally:
        chat.models.update_settings({"keep_screenshots": True})


def test_with_keep_screenshots_on_leaving_a_conversation_keeps_them(qtbot, chat):
    ask(qtbot, chat, "What is this?", picture())
    png = stored(chat)[0].attachments[0].path
    chat.window.conversations.newRequested.emit()
    assert png.is_file()


def test_dropped_files_become_attachments_and_a_bad_one_is_explained(qtbot, chat, tmp_path):
    image, audio, broken = tmp_path / "shot.png", tmp_path / "voice.wav", tmp_path / "broken.png"
    picture().save(image)
    soundfile.write(audio, np.zeros(16_000 * 2, np.float32), 16_000)
    broken.write_bytes(b"not a png")
    chat.window.input_bar.filesDropped.emit([str(image), str(audio), str(broken)])

    assert len(chat.window.input_bar.attachment_ids()) == 2
    assert chat.window.banner.kind == "error" and "broken.png" in chat.window.banner.text()
    ask(qtbot, chat, "What are these?")
    question, answer = stored(chat)
    assert [a.kind for a in question.attachments] == ["image", "audio"]
    assert question.attachments[1].seconds == pytest.approx(2.0, abs=0.01)
    assert answer.stats["prompt_tokens"]["audio"] == 50  # 2 s of 16 kHz audio, 640 samples a token


def test_an_audio_file_over_the_limit_is_refused_before_it_reaches_the_history(qtbot, chat, tmp_path):
    long_clip = tmp_path / "six-minutes.flac"
    soundfile.write(long_clip, np.zeros(16_000 * 360, np.float32), 16_000)
    chat.window.input_bar.filesDropped.emit([str(long_clip)])
    assert chat.window.input_bar.attachment_ids() == []
    assert "6 min" in chat.window.banner.text() and "5 min" in chat.window.banner.text()


def test_an_engine_failure_marks_the_answer_and_the_app_goes_on(qtbot, chat):
    chat.chat.attach_audio(np.zeros(16_000 * 301, np.float32), 16_000)  # over the engine's 5 minutes
    with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
        assert chat.chat.send("Listen to this.")
    finish, message = done.args
    assert finish == "error" and "5 min" in message
    answer = stored(chat)[-1]
    assert answer.status == "error" and answer.stats == {"error": message}
    assert chat.window.chat.bubble(str(answer.id)).status == MessageStatus.ERROR
    assert chat.window.banner.text() == message and not chat.window.input_bar.is_busy()
    chat.window.conversations.newRequested.emit()
    assert ask(qtbot, chat, "Still there?")[0] in ("stop", "length")


def test_while_answering_a_second_question_and_deleting_are_refused(qtbot, chat):
    with engine_held_at_first_piece(chat.bridge) as release:
        with qtbot.waitSignal(chat.chat.answerPiece, timeout=ANSWER_TIMEOUT_MS):
            assert chat.chat.send("A long answer, please.")
        answering = chat.chat.conversation_id
        assert chat.chat.is_answering() and chat.window.input_bar.is_busy()
        assert not chat.chat.send("And another?")
        assert "still answering" in chat.window.banner.text()
        chat.window.conversations.deleteRequested.emit(str(answering))
        assert "Stop the answer" in chat.window.banner.text()
        chat.window.conversations.conversationSelected.emit("999999")  # switching waits too
        assert chat.chat.conversation_id == answering
        with qtbot.waitSignal(chat.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
            chat.window.chat.stopRequested.emit()  # Esc / the Stop button
            release.set()
        assert done.args[0] == "cancelled"
    assert [m.role for m in stored(chat)] == ["user", "assistant"]
    assert len(chat.store.messages(answering)) == 2


def test_empty_questions_are_not_sent(chat):
    assert not chat.chat.send("   ")
    assert chat.chat.conversation_id is None and not chat.chat.is_answering()


def test_conversations_rename_search_switch_and_delete(qtbot, chat):
    ask(qtbot, chat, "First topic: apples")
    apples = chat.chat.conversation_id
    chat.window.conversations.newRequested.emit()
    ask(qtbot, chat, "Second topic: pears")
    pears = chat.chat.conversation_id

    chat.window.conversations.renameRequested.emit(str(apples), "Fruit one")
    assert chat.store.conversation(apples).title == "Fruit one" and "Fruit one" in titles(chat)

    chat.window.conversations.searchChanged.emit("pears")
    widget = chat.window.conversations.list
    assert [widget.item(i).data(ID_ROLE) for i in range(widget.count())] == [str(pears)]
    chat.window.conversations.searchChanged.emit("")

    chat.window.conversations.conversationSelected.emit(str(apples))
    assert chat.chat.conversation_id == apples
    assert chat.window.chat.message_ids() == [str(m.id) for m in chat.store.messages(apples)]

    chat.window.conversations.deleteRequested.emit(str(apples))
    assert chat.chat.conversation_id is None and chat.window.chat.message_ids() == []
    assert "Fruit one" not in titles(chat)
    assert [c.id for c in chat.store.list_conversations()].count(apples) == 0
