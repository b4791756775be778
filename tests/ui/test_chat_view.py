"""The transcript: throttled streaming, answer marks, actions, attachments."""

import pytest

from tests.ui import samples
from ui.chat_view import ChatView
from ui.markdown_render import copy_link
from ui.qt import QtCore, QtGui, Qt
from ui.view_models import AttachmentView, MessageStatus, MessageView


@pytest.fixture
def view(qtbot):
    chat = ChatView()
    qtbot.addWidget(chat)
    chat.resize(800, 600)
    chat.show()
    return chat


def question(message_id="q1", text="What is this?", attachments=()):
    return MessageView(message_id, "user", text, attachments=list(attachments))


def test_streaming_renders_far_less_than_once_per_piece_and_ends_complete(view, qtbot):
    view.add_message(question())
    view.begin_answer("a1")
    before = view.render_count
    pieces = [f"word{i} " for i in range(200)]
    for piece in pieces:
        view.append_answer_text("a1", piece)
    assert view.render_count == before  # nothing rendered per token
    qtbot.waitUntil(lambda: view.render_count > before)  # the throttle timer renders once
    assert view.render_count - before <= 2
    view.finish_answer("a1", MessageStatus.DONE, stats_text="200 tokens · 20.0 tok/s")
    bubble = view.bubble("a1")
    assert bubble.text == "".join(pieces)
    assert bubble.body.toPlainText().strip() == "".join(pieces).strip()
    assert bubble.stats.text() == "200 tokens · 20.0 tok/s"
    assert view.render_count - before <= 3


def test_interleaved_appends_and_events_still_throttle(view, qtbot):
    view.begin_answer("a1")
    before = view.render_count
    for i in range(200):
        view.append_answer_text("a1", f"{i} ")
        QtCore.QCoreApplication.processEvents()
    view.finish_answer("a1")
    assert view.render_count - before < 50
    assert view.bubble("a1").body.toPlainText().split()[-1] == "199"


def test_only_the_streaming_message_is_rendered_again(view, qtbot, tmp_path):
    view.set_messages(samples.messages(samples.write_image(tmp_path / "s.png")))
    rendered = {}
    for message_id in view.message_ids():
        bubble = view.bubble(message_id)
        bubble.render = (lambda original, mid: lambda r: rendered.setdefault(mid, []).append(1) or original(r))(
            bubble.render, message_id)
    view.begin_answer("a9")
    view.append_answer_text("a9", "Hello")
    qtbot.waitUntil(lambda: "Hello" in view.bubble("a9").body.toPlainText())
    view.finish_answer("a9")
    assert rendered == {}  # the older messages were never touched


def test_stop_button_shows_while_streaming_and_asks_to_stop(view, qtbot):
    assert not view.stop_button.isVisibleTo(view)
    with qtbot.waitSignal(view.streamingChanged) as started:
        view.begin_answer("a1")
    assert started.args == [True]
    assert view.stop_button.isVisibleTo(view)
    assert view.bubble("a1").thinking.isVisibleTo(view)  # nothing arrived yet
    with qtbot.waitSignal(view.stopRequested):
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    view.append_answer_text("a1", "Partial")
    view.finish_answer("a1", MessageStatus.STOPPED)
    assert not view.stop_button.isVisibleTo(view)
    note = view.bubble("a1").note
    assert note.isVisibleTo(view) and "incomplete" in note.text()


@pytest.mark.parametrize("status, words", [
    (MessageStatus.TRUNCATED, "maximum answer length"),
    (MessageStatus.ERROR, "failed. Out of memory."),
])
def test_cut_short_and_failed_answers_are_marked(view, status, words):
    view.begin_answer("a1")
    view.finish_answer("a1", status, note="Out of memory." if status == MessageStatus.ERROR else "")
    note = view.bubble("a1").note
    assert note.isVisibleTo(view) and words in note.text()
    assert note.objectName() == ("ErrorNote" if status == MessageStatus.ERROR else "StatusNote")


def test_done_answer_has_no_mark(view):
    view.add_message(MessageView("a1", "assistant", "Fine."))
    assert not view.bubble("a1").note.isVisibleTo(view)


def test_regenerate_only_on_the_last_answer_and_not_while_streaming(view, qtbot):
    view.set_messages([question("q1"), MessageView("a1", "assistant", "one"),
                       question("q2"), MessageView("a2", "assistant", "two")])
    assert not view.bubble("a1").regenerate_button.isVisibleTo(view)
    button = view.bubble("a2").regenerate_button
    assert button.isVisibleTo(view)
    with qtbot.waitSignal(view.regenerateRequested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    view.begin_answer("a2")  # the app regenerates into the same message
    assert not button.isVisibleTo(view)
    assert view.bubble("a2").text == ""
    view.finish_answer("a2")
    assert button.isVisibleTo(view)


def test_edit_and_resend_the_last_question(view, qtbot):
    view.set_messages([question("q1", "first"), MessageView("a1", "assistant", "one"),
                       question("q2", "second"), MessageView("a2", "assistant", "two")])
    assert not view.bubble("q1").edit_button.isVisibleTo(view)
    bubble = view.bubble("q2")
    qtbot.mouseClick(bubble.edit_button, Qt.MouseButton.LeftButton)
    assert bubble.editor.isVisibleTo(view) and bubble.editor.toPlainText() == "second"
    bubble.editor.setPlainText("second, better")
    with qtbot.waitSignal(view.editResendRequested) as sent:
        qtbot.mouseClick(bubble.send_edit_button, Qt.MouseButton.LeftButton)
    assert sent.args == ["second, better"]
    assert not bubble.editor.isVisibleTo(view)


def test_ctrl_enter_sends_the_edit(view, qtbot):
    view.add_message(question("q1", "first"))
    assert view.edit_last_question()
    editor = view.bubble("q1").editor
    editor.setPlainText("changed")
    with qtbot.waitSignal(view.editResendRequested) as sent:
        qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert sent.args == ["changed"]


def test_an_answer_that_fails_before_its_first_piece_still_shows(view):
    view.finish_answer("a7", MessageStatus.ERROR, note="The model ran out of memory.")
    assert "out of memory" in view.bubble("a7").note.text()
    view.append_answer_text("a8", "late piece")
    view.finish_answer("a8")
    assert view.bubble("a8").text == "late piece"


def test_edit_last_question_refuses_while_streaming(view):
    view.add_message(question())
    view.begin_answer("a1")
    assert view.edit_last_question() is False
    view.finish_answer("a1")
    assert view.edit_last_question() is True


def test_copy_message_and_code_block_to_clipboard(view, qtbot):
    view.add_message(MessageView("a1", "assistant", "Run:\n\n```sh\nls -la\n```"))
    bubble = view.bubble("a1")
    with qtbot.waitSignal(view.messageCopied) as copied:
        qtbot.mouseClick(bubble.copy_button, Qt.MouseButton.LeftButton)
    assert copied.args == ["a1"]
    clipboard = QtGui.QGuiApplication.clipboard()
    assert clipboard.text() == "Run:\n\n```sh\nls -la\n```"
    bubble.body.anchorClicked.emit(QtCore.QUrl(copy_link(0)))
    assert clipboard.text() == "ls -la"


def test_screenshot_thumbnail_opens_full_size_view(view, qtbot, tmp_path):
    image = samples.write_image(tmp_path / "shot.png", 640, 400)
    view.add_message(question(attachments=[AttachmentView("image", str(image), width=640, height=400)]))
    thumbnail = view.bubble("q1").attachments.thumbnails[0]
    assert not thumbnail.icon().isNull()
    assert thumbnail.iconSize().width() <= 200 and thumbnail.accessibleName()
    qtbot.mouseClick(thumbnail, Qt.MouseButton.LeftButton)
    viewer = view.image_viewer
    assert viewer is not None and viewer.isVisible()
    assert viewer.image.pixmap().size() == QtCore.QSize(640, 400)
    assert "640×400" in viewer.windowTitle()
    viewer.close()


def test_a_screenshot_shows_its_small_copy_and_opens_at_full_size(view, qtbot, tmp_path):
    full = samples.write_image(tmp_path / "shot.png", 1280, 800)
    small = QtGui.QImage(200, 125, QtGui.QImage.Format.Format_RGB32)
    small.fill(QtGui.QColor("#ff0000"))
    assert small.save(str(tmp_path / "shot-thumb.png"))
    view.add_message(question(attachments=[
        AttachmentView("image", str(full), str(tmp_path / "shot-thumb.png"), width=1280, height=800)]))
    thumbnail = view.bubble("q1").attachments.thumbnails[0]
    shown = thumbnail.icon().pixmap(thumbnail.iconSize()).toImage()
    assert shown.pixelColor(shown.width() // 2, shown.height() // 2) == QtGui.QColor("#ff0000")
    assert thumbnail.iconSize() == QtCore.QSize(200, 125)
    qtbot.mouseClick(thumbnail, Qt.MouseButton.LeftButton)
    assert view.image_viewer.image.pixmap().size() == QtCore.QSize(1280, 800)
    view.image_viewer.close()


def test_a_screenshot_without_its_small_copy_shows_the_image_itself(view, tmp_path):
    full = samples.write_image(tmp_path / "shot.png", 640, 400)
    view.add_message(question(attachments=[AttachmentView("image", str(full), str(tmp_path / "gone-thumb.png"))]))
    thumbnail = view.bubble("q1").attachments.thumbnails[0]
    assert not thumbnail.icon().isNull() and not thumbnail.text()


def test_missing_screenshot_says_so_instead_of_failing(view, qtbot, tmp_path):
    view.add_message(question(attachments=[AttachmentView("image", str(tmp_path / "gone.png"))]))
    thumbnail = view.bubble("q1").attachments.thumbnails[0]
    assert "missing" in thumbnail.text()


def test_audio_chip_shows_duration_and_asks_to_play(view, qtbot):
    view.add_message(question(attachments=[AttachmentView("audio", "/clips/a.wav", seconds=64.4)]))
    chip = view.bubble("q1").attachments.audio_chips[0]
    assert "1:04" in chip.text()
    with qtbot.waitSignal(view.playAudioRequested) as played:
        qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    assert played.args == ["/clips/a.wav"]


def test_set_messages_replaces_and_empty_shows_the_placeholder(view, qtbot):
    assert view.placeholder.isVisibleTo(view)
    view.set_messages([question("q1"), MessageView("a1", "assistant", "x")])
    assert view.message_ids() == ["q1", "a1"] and not view.placeholder.isVisibleTo(view)
    view.set_messages([])
    assert view.message_ids() == [] and view.placeholder.isVisibleTo(view)


def test_user_text_is_shown_as_typed_not_as_markdown(view):
    view.add_message(question(text="# not a heading\n<b>x</b>"))
    assert view.bubble("q1").body.toPlainText() == "# not a heading\n<b>x</b>"
