"""The input bar: what the user types, pastes, drops and presses becomes the right signal."""

import pytest

from ui.attachments import PendingAttachment
from ui.input_bar import InputBar
from ui.qt import QtCore, QtGui, QtWidgets, Qt


@pytest.fixture
def bar(qtbot):
    widget = InputBar()
    qtbot.addWidget(widget)
    widget.resize(640, 200)
    widget.show()
    qtbot.waitExposed(widget)
    widget.edit.setFocus()
    return widget


def red_image(width=64, height=48) -> QtGui.QImage:
    image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("red"))
    return image


def test_enter_sends_text_and_detail(qtbot, bar):
    bar.set_detail(560)
    qtbot.keyClicks(bar.edit, "what is this?")
    with qtbot.waitSignal(bar.sendRequested) as sent:
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert sent.args == ["what is this?", 560]
    assert bar.text() == "what is this?"  # the app clears it once it took the message


def test_shift_enter_inserts_a_new_line_without_sending(qtbot, bar):
    qtbot.keyClicks(bar.edit, "one")
    with qtbot.assertNotEmitted(bar.sendRequested):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(bar.edit, "two")
    assert bar.text() == "one\ntwo"
    with qtbot.waitSignal(bar.sendRequested) as sent:
        qtbot.keyClick(bar.edit, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert sent.args[0] == "one\ntwo"


def test_the_field_grows_with_its_lines_up_to_a_limit(qtbot, bar):
    heights = [bar.edit.height()]
    qtbot.keyClicks(bar.edit, "a")
    for _ in range(3):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        heights.append(bar.edit.height())
    assert heights == sorted(set(heights))  # taller with every line
    assert not bar.edit.verticalScrollBar().isVisible()
    for _ in range(20):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert bar.edit.height() < 3 * heights[-1]  # stops at max_lines, then scrolls
    qtbot.waitUntil(bar.edit.verticalScrollBar().isVisible)


def test_empty_or_blank_text_is_not_sent(qtbot, bar):
    with qtbot.assertNotEmitted(bar.sendRequested):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
        qtbot.keyClicks(bar.edit, "   ")
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert not bar.send_button.isEnabled()


def test_an_attachment_alone_can_be_sent_with_the_send_button(qtbot, bar):
    bar.add_attachment(PendingAttachment("shot-1", "image", "Screenshot", red_image()))
    assert bar.send_button.isEnabled()
    with qtbot.waitSignal(bar.sendRequested) as sent:
        qtbot.mouseClick(bar.send_button, Qt.MouseButton.LeftButton)
    assert sent.args == ["", 280]


def test_busy_turns_send_into_stop(qtbot, bar):
    qtbot.keyClicks(bar.edit, "next question")
    bar.set_busy(True)
    assert bar.send_button.accessibleName() == "Stop"
    with qtbot.assertNotEmitted(bar.sendRequested):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    with qtbot.waitSignal(bar.stopRequested), qtbot.assertNotEmitted(bar.sendRequested):
        qtbot.mouseClick(bar.send_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(bar.stopRequested):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Escape)
    bar.set_busy(False)
    assert bar.send_button.accessibleName() == "Send"
    with qtbot.waitSignal(bar.sendRequested):
        qtbot.keyClick(bar.edit, Qt.Key.Key_Return)


def test_clear_empties_text_chips_and_resets_the_detail(qtbot, bar):
    bar.set_detail(140)
    bar.detail_picker.set_detail(1120)
    qtbot.keyClicks(bar.edit, "hello")
    bar.add_attachment(PendingAttachment("a", "audio", "Voice 0:03"))
    bar.clear()
    assert (bar.text(), bar.attachment_ids(), bar.detail()) == ("", [], 140)


def test_detail_picker_is_labelled_and_snaps_to_offered_budgets(bar):
    labels = [bar.detail_picker.itemText(i) for i in range(bar.detail_picker.count())]
    assert labels[0] == "Low 70" and labels[-1] == "Max 1120" and len(labels) == 5
    bar.set_detail(300)
    assert bar.detail() == 280


def test_chips_are_added_and_removed_with_a_signal(qtbot, bar):
    bar.add_attachment(PendingAttachment("img", "image", "Screenshot", red_image()))
    bar.add_attachment(PendingAttachment("voice", "audio", "Voice 0:07"))
    assert bar.attachment_ids() == ["img", "voice"]
    with qtbot.waitSignal(bar.attachmentRemoved) as removed:
        qtbot.mouseClick(bar.attachments.chip("img").remove_button, Qt.MouseButton.LeftButton)
    assert removed.args == ["img"]
    assert bar.attachment_ids() == ["voice"]
    with qtbot.assertNotEmitted(bar.attachmentRemoved):
        bar.remove_attachment("voice")  # the app's own removal is not echoed back
    assert bar.attachment_ids() == []
    qtbot.waitUntil(lambda: not bar.attachments.isVisible())


def test_ctrl_v_with_an_image_emits_image_pasted(qtbot, bar):
    QtWidgets.QApplication.clipboard().setImage(red_image(32, 20))
    with qtbot.waitSignal(bar.imagePasted) as pasted:
        qtbot.keyClick(bar.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    image = pasted.args[0]
    assert (image.width(), image.height()) == (32, 20)
    assert QtGui.QColor(image.pixel(5, 5)) == QtGui.QColor("red")
    assert bar.text() == ""


def test_ctrl_v_with_text_still_pastes_text(qtbot, bar):
    QtWidgets.QApplication.clipboard().setText("pasted words")
    with qtbot.assertNotEmitted(bar.imagePasted):
        qtbot.keyClick(bar.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert bar.text() == "pasted words"


def _drop(target: QtWidgets.QWidget, mime: QtCore.QMimeData) -> QtGui.QDropEvent:
    center = target.rect().center()  # Qt takes a QPoint for the enter event, a QPointF for the drop
    enter = QtGui.QDragEnterEvent(center, Qt.DropAction.CopyAction, mime,
                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(target, enter)
    drop = QtGui.QDropEvent(QtCore.QPointF(center), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(target, drop)
    return enter, drop


def test_dropping_files_emits_only_images_and_audio(qtbot, bar, tmp_path):
    mime = QtCore.QMimeData()
    names = ["shot.png", "note.txt", "voice.wav", "photo.JPG"]
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path / n)) for n in names])
    with qtbot.waitSignal(bar.filesDropped) as dropped:
        enter, drop = _drop(bar, mime)
    assert enter.isAccepted() and drop.isAccepted()
    assert dropped.args[0] == [str(tmp_path / n) for n in ("shot.png", "voice.wav", "photo.JPG")]


def test_dropping_files_on_the_text_field_attaches_them(qtbot, bar, tmp_path):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path / "a.png"))])
    with qtbot.waitSignal(bar.filesDropped) as dropped:
        _drop(bar.edit.viewport(), mime)
    assert dropped.args[0] == [str(tmp_path / "a.png")]
    assert bar.text() == ""


def test_a_drop_of_other_files_is_refused(qtbot, bar, tmp_path):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path / "report.pdf"))])
    with qtbot.assertNotEmitted(bar.filesDropped):
        enter, _ = _drop(bar, mime)
    assert not enter.isAccepted()


def test_capture_menu_emits_each_mode(qtbot, bar):
    actions = [a for a in bar.capture_button.menu().actions() if a.data()]
    assert [a.data() for a in actions] == ["screen", "region", "window"]
    for action in actions:
        with qtbot.waitSignal(bar.captureRequested) as requested:
            action.trigger()
        assert requested.args == [action.data()]


def test_talk_button_press_and_release(qtbot, bar):
    button = bar.talk_button
    with qtbot.waitSignal(bar.talkPressed), qtbot.assertNotEmitted(bar.talkReleased):
        qtbot.mousePress(button, Qt.MouseButton.LeftButton)
    # Sliding off the button while holding does not end the recording ...
    qtbot.mouseMove(button, QtCore.QPoint(button.width() + 200, -50))
    assert button.is_holding()
    # ... letting go does, wherever the pointer is.
    with qtbot.waitSignal(bar.talkReleased):
        qtbot.mouseRelease(button, Qt.MouseButton.LeftButton, pos=QtCore.QPoint(button.width() + 200, -50))
    assert not button.is_holding()


def test_talk_button_can_be_held_with_space(qtbot, bar):
    bar.talk_button.setFocus()
    with qtbot.waitSignal(bar.talkPressed):
        qtbot.keyPress(bar.talk_button, Qt.Key.Key_Space)
    with qtbot.waitSignal(bar.talkReleased):
        qtbot.keyRelease(bar.talk_button, Qt.Key.Key_Space)


def test_talk_button_releases_when_disabled_mid_press(qtbot, bar):
    qtbot.mousePress(bar.talk_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(bar.talkReleased):
        bar.set_talk_available(False, "No microphone found: plug one in and try again.")
    assert bar.talk_button.toolTip().startswith("No microphone")


def test_recording_state_shows_level_time_and_countdown(qtbot, bar):
    strip = bar.recording
    assert not strip.isVisible()
    bar.set_recording_state(True, 4.2, 30)
    bar.set_level(0.4)
    assert strip.isVisible() and strip.meter.level() == pytest.approx(0.4)
    assert strip.elapsed.text() == "0:04"
    assert not strip.countdown.isVisible()
    bar.set_recording_state(True, 22.5, 30)
    assert strip.countdown.isVisible() and strip.countdown.text() == "Stops in 8 s"
    bar.set_recording_state(False)
    assert not strip.isVisible() and strip.meter.level() == 0


def test_tab_reaches_every_control_and_all_are_named(qtbot, bar):
    bar.add_attachment(PendingAttachment("img", "image", "Screenshot", red_image()))
    qtbot.keyClicks(bar.edit, "x")
    seen = []
    for _ in range(8):
        widget = QtWidgets.QApplication.focusWidget()
        seen.append(widget)
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    wanted = [bar.edit, bar.capture_button, bar.talk_button, bar.detail_picker, bar.send_button,
              bar.attachments.chip("img").remove_button]
    for widget in wanted:
        assert widget in seen, widget
        assert widget.accessibleName() and widget.toolTip()
