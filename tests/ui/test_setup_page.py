"""The setup page: choose a model folder or download the model, with progress and problems."""

import pytest

from ui.qt import Qt
from ui.setup_page import SetupPage, format_bytes
from ui.view_models import DownloadState


@pytest.fixture
def page(qtbot):
    widget = SetupPage()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_typed_folder_is_chosen_with_the_button_or_enter(page, qtbot):
    page.folder_edit.setText(" /models/gemma ")
    with qtbot.waitSignal(page.modelFolderChosen) as chosen:
        qtbot.mouseClick(page.use_folder_button, Qt.MouseButton.LeftButton)
    assert chosen.args == ["/models/gemma"]
    with qtbot.waitSignal(page.modelFolderChosen):
        qtbot.keyClick(page.folder_edit, Qt.Key.Key_Return)


def test_empty_folder_is_a_problem_not_a_choice(page, qtbot):
    with qtbot.assertNotEmitted(page.modelFolderChosen):
        qtbot.mouseClick(page.use_folder_button, Qt.MouseButton.LeftButton)
    assert page.problems.isVisibleTo(page) and "folder" in page.problems.text()


def test_problems_are_listed_in_plain_words_and_cleared(page):
    page.show_problems(["config.json is missing.", "Two weight files are incomplete."])
    assert page.problems.isVisibleTo(page)
    assert page.problems.text() == "• config.json is missing.\n• Two weight files are incomplete."
    page.show_problems([])
    assert not page.problems.isVisibleTo(page)


def test_browse_opens_a_folder_picker_that_uses_the_pick(page, qtbot):
    page.browse()
    dialog = page.folder_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(page.modelFolderChosen) as chosen:
        dialog.fileSelected.emit("/picked/folder")
    assert chosen.args == ["/picked/folder"] and page.folder_edit.text() == "/picked/folder"
    dialog.reject()


def test_download_pause_resume_cancel_signals(page, qtbot):
    assert page.download_button.isVisibleTo(page) and not page.pause_button.isVisibleTo(page)
    with qtbot.waitSignal(page.downloadRequested):
        qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
    page.set_download_state(DownloadState.RUNNING)
    assert not page.download_button.isVisibleTo(page)
    assert page.pause_button.text() == "Pause" and page.cancel_button.isVisibleTo(page)
    with qtbot.waitSignal(page.downloadPaused):
        qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    page.set_download_state("paused")
    assert page.pause_button.text() == "Resume"
    with qtbot.waitSignal(page.downloadRequested):  # resuming continues from the partial files
        qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(page.downloadCancelled):
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)


def test_progress_handles_sizes_beyond_32_bits(page):
    page.set_download_state(DownloadState.RUNNING)
    page.set_download_progress(6_000_000_000, 24_000_000_000)
    assert page.progress.value() == 250
    assert page.progress_text.text() == "6.0 GB of 24.0 GB"
    page.set_download_progress(1, 2, "model-00002-of-00005.safetensors")
    assert page.progress_text.text() == "model-00002-of-00005.safetensors"


def test_failed_download_offers_a_retry_with_the_reason(page):
    page.set_download_state(DownloadState.FAILED, "The network went away; try again.")
    assert page.download_button.text() == "Try again" and page.download_button.isVisibleTo(page)
    assert page.download_message.text() == "The network went away; try again."


def test_too_little_disk_space_blocks_the_download(page):
    page.set_download_info(24_000_000_000, 100_000_000_000)
    assert "24.0 GB" in page.size_label.text() and "100.0 GB" in page.size_label.text()
    assert page.download_button.isEnabled()
    page.set_download_info(24_000_000_000, 4_000_000_000)
    assert "Free 20.0 GB more" in page.size_label.text()
    assert not page.download_button.isEnabled()


def test_format_bytes():
    assert format_bytes(512) == "512 bytes"
    assert format_bytes(1_500_000) == "1.5 MB"
    assert format_bytes(24_100_000_000) == "24.1 GB"
    assert format_bytes(2_000_000_000_000) == "2000.0 GB"
