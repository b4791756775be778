"""The settings dialog edits a plain dict and hands the whole edited copy back on OK."""

import pytest

from ui.qt import QtWidgets, Qt
from ui.settings_dialog import SettingsDialog
from ui.view_models import SettingsChoices

SETTINGS = {
    "model_dir": "/models/gemma",
    "assistant_dir": None,  # not shown: must pass through unchanged
    "quantization": "int8",
    "device": "cpu",
    "image_detail": 560,
    "hotkey_ask_screen": "<ctrl>+<shift>+<space>",
    "hotkey_ask_screen_enabled": True,
    "hotkey_push_to_talk": "<ctrl>+<alt>+<space>",
    "hotkey_push_to_talk_enabled": False,
    "microphone": None,
    "include_screen_with_voice": True,
    "system_prompt": "Be brief.",
    "temperature": 0.7,
    "top_p": 0.95,
    "max_answer_tokens": 2048,
    "keep_screenshots": False,
    "use_draft": True,
    "close_to_tray": False,
}
CHOICES = SettingsChoices(devices=["auto", "cpu", "cuda"], microphones=["USB Mic", "Headset"])


@pytest.fixture
def dialog(qtbot):
    widget = SettingsDialog(dict(SETTINGS), CHOICES)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_ok_without_changes_gives_back_the_same_settings(dialog, qtbot):
    with qtbot.waitSignal(dialog.settingsChanged) as changed:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert changed.args == [SETTINGS]
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted


def test_edits_come_back_with_their_types(dialog, qtbot):
    dialog.model_dir.setText("/elsewhere/gemma ")
    dialog.quantization.setCurrentIndex(dialog.quantization.findData("int4"))
    dialog.device.setCurrentIndex(dialog.device.findData("cuda"))
    dialog.image_detail.setCurrentIndex(dialog.image_detail.findData(1120))
    dialog.hotkey_edits["hotkey_ask_screen"].setText("<ctrl>+<alt>+s")
    dialog.hotkey_checks["hotkey_push_to_talk"].setChecked(True)
    dialog.microphone.setCurrentIndex(dialog.microphone.findData("Headset"))
    dialog.include_screen.setChecked(False)
    dialog.system_prompt.setPlainText("Answer in French.")
    dialog.temperature.setValue(1.3)
    dialog.max_answer_tokens.setValue(512)
    dialog.keep_screenshots.setChecked(True)
    dialog.use_draft.setChecked(False)
    dialog.close_to_tray.setChecked(True)
    with qtbot.waitSignal(dialog.settingsChanged) as changed:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert changed.args[0] == SETTINGS | {
        "model_dir": "/elsewhere/gemma", "quantization": "int4", "device": "cuda", "image_detail": 1120,
        "hotkey_ask_screen": "<ctrl>+<alt>+s", "hotkey_push_to_talk_enabled": True,
        "microphone": "Headset", "include_screen_with_voice": False, "system_prompt": "Answer in French.",
        "temperature": 1.3, "max_answer_tokens": 512, "keep_screenshots": True, "use_draft": False,
        "close_to_tray": True,
    }


def test_cancel_changes_nothing(dialog, qtbot):
    dialog.temperature.setValue(0.1)
    with qtbot.assertNotEmitted(dialog.settingsChanged):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Rejected


def test_system_default_microphone_is_none_and_a_missing_one_is_kept(qtbot):
    dialog = SettingsDialog(SETTINGS | {"microphone": "Unplugged Mic"}, CHOICES)
    qtbot.addWidget(dialog)
    assert "not connected" in dialog.microphone.currentText()
    assert dialog.values()["microphone"] == "Unplugged Mic"
    dialog.microphone.setCurrentIndex(0)
    assert dialog.microphone.currentText() == "System default"
    assert dialog.values()["microphone"] is None


def test_disabled_hotkey_greys_out_its_field(dialog):
    assert not dialog.hotkey_edits["hotkey_push_to_talk"].isEnabled()
    dialog.hotkey_checks["hotkey_push_to_talk"].setChecked(True)
    assert dialog.hotkey_edits["hotkey_push_to_talk"].isEnabled()


def test_browse_fills_the_model_folder(dialog):
    dialog.browse()
    assert dialog.folder_dialog.isVisible()
    dialog.folder_dialog.fileSelected.emit("/picked")
    assert dialog.model_dir.text() == "/picked"
    dialog.folder_dialog.reject()


def test_missing_keys_get_sensible_defaults(qtbot):
    dialog = SettingsDialog({}, SettingsChoices())
    qtbot.addWidget(dialog)
    values = dialog.values()
    assert values["model_dir"] is None and values["quantization"] == "int4"
    assert values["image_detail"] == 280 and values["microphone"] is None
