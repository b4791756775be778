"""Shown instead of the chat until a model is configured: use a folder, or download the model.

Intents: ``modelFolderChosen(path)``; ``downloadRequested()`` (also sent by Resume, since a
download continues from its partial files), ``downloadPaused()``, ``downloadCancelled()``.
The app reports back with ``show_problems``, ``set_download_info``, ``set_download_progress``
and ``set_download_state``.
"""

from ui.qt import QtWidgets, Qt, Signal
from ui.view_models import DownloadState

MODEL_ID = "google/gemma-4-12B-it"


def format_bytes(count: int | float) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("bytes", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _card(title: str, text: str) -> tuple[QtWidgets.QFrame, QtWidgets.QVBoxLayout]:
    card = QtWidgets.QFrame()
    card.setObjectName("Card")
    layout = QtWidgets.QVBoxLayout(card)
    layout.setContentsMargins(20, 16, 20, 18)
    layout.setSpacing(10)
    heading = QtWidgets.QLabel(title)
    heading.setObjectName("CardTitle")
    heading.setWordWrap(True)
    body = QtWidgets.QLabel(text)
    body.setObjectName("Muted")
    body.setWordWrap(True)
    layout.addWidget(heading)
    layout.addWidget(body)
    return card, layout


class SetupPage(QtWidgets.QWidget):
    modelFolderChosen = Signal(str)
    downloadRequested = Signal()
    downloadPaused = Signal()
    downloadCancelled = Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.download_state = DownloadState.IDLE
        self.folder_dialog: QtWidgets.QFileDialog | None = None

        title = QtWidgets.QLabel("Set up Seesay")
        title.setObjectName("PageTitle")
        intro = QtWidgets.QLabel(
            "Seesay answers with Gemma 4 12B, running entirely on this computer. "
            "Tell it where the model is, or download it once."
        )
        intro.setObjectName("Muted")
        intro.setWordWrap(True)

        folder_card, folder_layout = _card(
            "Choose a folder with a Gemma 4 12B snapshot",
            f"A folder holding {MODEL_ID} (config.json, tokenizer and *.safetensors files), "
            "for example one copied from another computer.",
        )
        self.folder_edit = QtWidgets.QLineEdit()
        self.folder_edit.setPlaceholderText("Folder with the model")
        self.folder_edit.setAccessibleName("Model folder")
        self.folder_edit.returnPressed.connect(self._use_folder)
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.setAccessibleName("Browse for the model folder")
        self.browse_button.clicked.connect(self.browse)
        self.use_folder_button = QtWidgets.QPushButton("Use this folder")
        self.use_folder_button.setObjectName("PrimaryButton")
        self.use_folder_button.setAccessibleName("Use this model folder")
        self.use_folder_button.clicked.connect(self._use_folder)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)
        row.addWidget(self.use_folder_button)
        folder_layout.addLayout(row)
        self.problems = QtWidgets.QLabel()
        self.problems.setObjectName("Problem")
        self.problems.setWordWrap(True)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems.hide()
        folder_layout.addWidget(self.problems)

        download_card, download_layout = _card(
            f"Download {MODEL_ID} (+ assistant)",
            "The model and its small drafting assistant, from Hugging Face. This is the only "
            "time Seesay uses the network; you can pause and resume.",
        )
        self.size_label = QtWidgets.QLabel()
        self.size_label.setWordWrap(True)
        self.size_label.hide()
        self.download_button = QtWidgets.QPushButton("Download")
        self.download_button.setObjectName("PrimaryButton")
        self.download_button.setAccessibleName("Download the model")
        self.download_button.clicked.connect(self.downloadRequested)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Download progress")
        self.progress_text = QtWidgets.QLabel()
        self.progress_text.setObjectName("Muted")
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.pause_button.setAccessibleName("Pause download")
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel download")
        self.cancel_button.clicked.connect(self.downloadCancelled)
        self.download_message = QtWidgets.QLabel()
        self.download_message.setObjectName("Problem")
        self.download_message.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        for widget in (self.size_label, self.progress, self.progress_text, self.download_message):
            download_layout.addWidget(widget)
        download_layout.addLayout(buttons)

        column = QtWidgets.QWidget()
        column.setMaximumWidth(640)
        column_layout = QtWidgets.QVBoxLayout(column)
        column_layout.setSpacing(14)
        column_layout.addWidget(title)
        column_layout.addWidget(intro)
        column_layout.addWidget(folder_card)
        column_layout.addWidget(download_card)
        column_layout.addStretch(1)
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(24, 32, 24, 24)
        outer.addStretch(1)
        outer.addWidget(column, 6)
        outer.addStretch(1)
        self.set_download_state(DownloadState.IDLE)

    # --- folder ---

    def browse(self) -> None:
        """Open a folder picker without blocking; picking a folder uses it at once."""
        self.folder_dialog = QtWidgets.QFileDialog(self, "Choose the Gemma 4 12B folder")
        self.folder_dialog.setFileMode(QtWidgets.QFileDialog.FileMode.Directory)
        self.folder_dialog.setOption(QtWidgets.QFileDialog.Option.ShowDirsOnly, True)
        self.folder_dialog.fileSelected.connect(self._folder_picked)
        self.folder_dialog.open()

    def _folder_picked(self, path: str) -> None:
        self.folder_edit.setText(path)
        self._use_folder()

    def _use_folder(self) -> None:
        path = self.folder_edit.text().strip()
        if not path:
            self.show_problems(["Type or browse to the folder that holds the model."])
            return
        self.show_problems([])
        self.modelFolderChosen.emit(path)

    def show_problems(self, problems: list[str]) -> None:
        """What is wrong with the chosen folder, in plain words (an empty list hides them)."""
        self.problems.setText("\n".join(f"• {p}" for p in problems))
        self.problems.setVisible(bool(problems))

    # --- download ---

    def set_download_info(self, total_bytes: int | None, free_bytes: int | None) -> None:
        """The download's size and the free space where it will go; too little space blocks it."""
        parts = []
        if total_bytes:
            parts.append(f"Download size: {format_bytes(total_bytes)}")
        if free_bytes is not None:
            parts.append(f"Free disk space: {format_bytes(free_bytes)}")
        too_little = bool(total_bytes) and free_bytes is not None and free_bytes < total_bytes
        if too_little:
            parts.append(f"Free {format_bytes(total_bytes - free_bytes)} more to download here.")
        self.size_label.setText("  ·  ".join(parts))
        self.size_label.setObjectName("Problem" if too_little else "")
        self.size_label.style().unpolish(self.size_label)
        self.size_label.style().polish(self.size_label)
        self.size_label.setVisible(bool(parts))
        self.download_button.setEnabled(not too_little)

    def set_download_progress(self, done_bytes: int, total_bytes: int, text: str = "") -> None:
        # Byte counts pass 2**31, so the bar counts in thousandths.
        self.progress.setValue(int(1000 * done_bytes / total_bytes) if total_bytes else 0)
        if not text and total_bytes:
            text = f"{format_bytes(done_bytes)} of {format_bytes(total_bytes)}"
        self.progress_text.setText(text)

    def set_download_state(self, state: DownloadState | str, message: str = "") -> None:
        self.download_state = state = DownloadState(state)
        active = state in (DownloadState.RUNNING, DownloadState.PAUSED)
        self.download_button.setVisible(state in (DownloadState.IDLE, DownloadState.FAILED))
        self.download_button.setText("Try again" if state == DownloadState.FAILED else "Download")
        self.pause_button.setVisible(active)
        self.pause_button.setText("Resume" if state == DownloadState.PAUSED else "Pause")
        self.pause_button.setAccessibleName(
            "Resume download" if state == DownloadState.PAUSED else "Pause download")
        self.cancel_button.setVisible(active)
        self.progress.setVisible(state != DownloadState.IDLE)
        self.progress_text.setVisible(state != DownloadState.IDLE)
        if state == DownloadState.DONE:
            self.progress.setValue(1000)
        self.download_message.setText(message)
        self.download_message.setVisible(bool(message))

    def _pause_or_resume(self) -> None:
        if self.download_state == DownloadState.PAUSED:
            self.downloadRequested.emit()
        else:
            self.downloadPaused.emit()
