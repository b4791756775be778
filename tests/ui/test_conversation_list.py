"""The conversation list emits intents; the app owns the conversations."""

import pytest

from tests.ui import samples
from ui.conversation_list import ConversationList
from ui.qt import Qt
from ui.view_models import ConversationView


@pytest.fixture
def conversations(qtbot):
    widget = ConversationList()
    qtbot.addWidget(widget)
    widget.set_conversations(samples.conversations())
    widget.show()
    return widget


def test_new_button_asks_for_a_new_conversation(conversations, qtbot):
    with qtbot.waitSignal(conversations.newRequested):
        qtbot.mouseClick(conversations.new_button, Qt.MouseButton.LeftButton)


def test_picking_a_conversation_announces_it_but_set_current_does_not(conversations, qtbot):
    with qtbot.assertNotEmitted(conversations.conversationSelected):
        conversations.set_current("c2")
    assert conversations.current_id() == "c2"
    with qtbot.waitSignal(conversations.conversationSelected) as picked:
        conversations.list.setCurrentRow(2)
    assert picked.args == ["c3"]


def test_search_is_sent_once_typing_pauses(conversations, qtbot):
    with qtbot.waitSignal(conversations.searchChanged) as searched:
        qtbot.keyClicks(conversations.search, "dialog")
    assert searched.args == ["dialog"]


def test_enter_sends_the_search_at_once(conversations, qtbot):
    conversations.search.setText("  meeting ")
    sent = []
    conversations.searchChanged.connect(sent.append)
    qtbot.keyClick(conversations.search, Qt.Key.Key_Return)
    assert sent == ["meeting"]  # synchronously, without waiting for the typing pause


def test_rename_edits_in_place_and_emits_the_new_title(conversations, qtbot):
    conversations.set_current("c1")
    item = conversations.list.currentItem()
    with qtbot.waitSignal(conversations.renameRequested) as renamed:
        item.setText("  Off-by-one bug  ")  # what the in-place editor does on Enter
    assert renamed.args == ["c1", "Off-by-one bug"]


def test_rename_to_nothing_restores_the_title(conversations, qtbot):
    conversations.set_current("c1")
    item = conversations.list.currentItem()
    with qtbot.assertNotEmitted(conversations.renameRequested):
        item.setText("   ")
    assert item.text() == "Bug in add_all"


def test_rename_button_opens_the_editor(conversations, qtbot):
    conversations.set_current("c2")
    qtbot.mouseClick(conversations.rename_button, Qt.MouseButton.LeftButton)
    assert conversations.list.state() == conversations.list.State.EditingState


def answer_delete_question(conversations, qtbot, button_text: str) -> None:
    box = conversations.confirm_delete
    qtbot.waitUntil(box.isVisible)
    assert "cannot be undone" in box.text()
    [button] = [b for b in box.buttons() if b.text().replace("&", "") == button_text]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_delete_button_and_delete_key_ask_before_deleting(conversations, qtbot):
    conversations.set_current("c3")
    title = conversations.list.currentItem().text()
    with qtbot.waitSignal(conversations.deleteRequested) as deleted:
        qtbot.mouseClick(conversations.delete_button, Qt.MouseButton.LeftButton)
        assert title in conversations.confirm_delete.text()
        answer_delete_question(conversations, qtbot, "Delete")
    assert deleted.args == ["c3"]
    conversations.list.setFocus()
    with qtbot.waitSignal(conversations.deleteRequested) as deleted:
        qtbot.keyClick(conversations.list, Qt.Key.Key_Delete)
        answer_delete_question(conversations, qtbot, "Delete")
    assert deleted.args == ["c3"]


def test_cancelling_the_delete_question_keeps_the_conversation(conversations, qtbot):
    conversations.set_current("c2")
    with qtbot.assertNotEmitted(conversations.deleteRequested, wait=50):
        qtbot.mouseClick(conversations.delete_button, Qt.MouseButton.LeftButton)
        answer_delete_question(conversations, qtbot, "Cancel")


def test_rename_and_delete_need_a_selection(conversations):
    conversations.set_current(None)
    assert not conversations.rename_button.isEnabled()
    assert not conversations.delete_button.isEnabled()


def test_new_list_keeps_the_selection_and_shows_titles(conversations):
    conversations.set_current("c2")
    conversations.set_conversations([ConversationView("c2", "Renamed"), ConversationView("c4", "")])
    assert conversations.current_id() == "c2"
    titles = [conversations.list.item(i).text() for i in range(conversations.list.count())]
    assert titles == ["Renamed", "Untitled"]


def test_empty_results_say_so(conversations, qtbot):
    conversations.search.setText("zzz")
    conversations.set_conversations([])
    assert conversations.empty_label.isVisibleTo(conversations)
    assert conversations.empty_label.text() == "No conversations match."


def test_updated_time_is_in_the_tooltip(conversations):
    tip = conversations.list.item(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "2026-05-02 14:03" in tip
