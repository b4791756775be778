"""The settings dialog: edits a plain dict of settings and hands the edited copy back on OK.

The dict uses the field names of ``app.settings.Settings`` (``dataclasses.asdict`` of it);
keys the dialog does not show pass through unchanged. ``settingsChanged(dict)`` is emitted on
OK with the whole edited dict; Cancel changes nothing. Checking the values (a hotkey that cannot
be registered, a folder without a model) is the app's job: it answers with a visible message.
"""

from ui.detail_picker import detail_label
from ui.qt import QtWidgets, Qt, Signal
from ui.view_models import SettingsChoices

QUANTIZATION_LABELS = {"int4": "4-bit (smallest, fastest to load)", "int8": "8-bit (balanced)",
                       "none": "None (full size)"}
DEVICE_LABELS = {"auto": "Automatic", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (Metal)"}
SYSTEM_DEFAULT_MIC = "System default"


def _combo(name: str, options: list, labels=lambda value: str(value)) -> QtWidgets.QComboBox:
    combo = QtWidgets.QComboBox()
    combo.setAccessibleName(name)
    for value in options:
        combo.addItem(labels(value), value)
    return combo


def _select(combo: QtWidgets.QComboBox, value, label: str | None = None) -> None:
    """Select ``value``; a value the choices lack (a saved, now-missing device) is added."""
    index = combo.findData(value)
    if index < 0:
        combo.addItem(label or str(value), value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)


def _check(text: str, accessible: str | None = None) -> QtWidgets.QCheckBox:
    box = QtWidgets.QCheckBox(text)
    box.setAccessibleName(accessible or text)
    return box


class SettingsDialog(QtWidgets.QDialog):
    settingsChanged = Signal(dict)

    def __init__(self, settings: dict, choices: SettingsChoices | None = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Seesay settings")
        self.setAccessibleName("Settings")
        self._original = dict(settings)
        self._choices = choices or SettingsChoices()
        self.folder_dialog: QtWidgets.QFileDialog | None = None
        self.hotkey_edits: dict[str, QtWidgets.QLineEdit] = {}
        self.hotkey_checks: dict[str, QtWidgets.QCheckBox] = {}

        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setAccessibleName("Settings sections")
        self.tabs.addTab(self._model_tab(), "Model")
        self.tabs.addTab(self._answers_tab(), "Answers")
        self.tabs.addTab(self._input_tab(), "Screen && voice")
        self.tabs.addTab(self._general_tab(), "General")
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setAccessibleName("Save settings")
        self.cancel_button = self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName("Cancel")
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)
        self.resize(560, 460)
        self._load(settings)

    # --- tabs ---

    def _model_tab(self) -> QtWidgets.QWidget:
        self.model_dir = QtWidgets.QLineEdit()
        self.model_dir.setAccessibleName("Model folder")
        self.model_dir.setPlaceholderText("Folder with google/gemma-4-12B-it")
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.setAccessibleName("Browse for the model folder")
        self.browse_button.clicked.connect(self.browse)
        folder = QtWidgets.QHBoxLayout()
        folder.addWidget(self.model_dir, 1)
        folder.addWidget(self.browse_button)
        self.quantization = _combo("Quantization", self._choices.quantizations,
                                   lambda v: QUANTIZATION_LABELS.get(v, v))
        self.device = _combo("Device", self._choices.devices, lambda v: DEVICE_LABELS.get(v, v))
        self.use_draft = _check("Use the draft model (faster answers, a little more memory)", "Use draft model")
        form = QtWidgets.QFormLayout()
        form.addRow("Model folder", folder)
        form.addRow("Quantization", self.quantization)
        form.addRow("Device", self.device)
        form.addRow("", self.use_draft)
        return self._page(form, "Changes to the model take effect when it is loaded again.")

    def _answers_tab(self) -> QtWidgets.QWidget:
        self.system_prompt = QtWidgets.QPlainTextEdit()
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setTabChangesFocus(True)
        self.temperature = QtWidgets.QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setAccessibleName("Temperature")
        self.max_answer_tokens = QtWidgets.QSpinBox()
        self.max_answer_tokens.setRange(1, 32768)
        self.max_answer_tokens.setSingleStep(256)
        self.max_answer_tokens.setSuffix(" tokens")
        self.max_answer_tokens.setAccessibleName("Maximum answer length")
        form = QtWidgets.QFormLayout()
        form.addRow("System prompt", self.system_prompt)
        form.addRow("Temperature", self.temperature)
        form.addRow("Max answer length", self.max_answer_tokens)
        return self._page(form, "Lower temperature gives steadier answers; higher, more varied ones.")

    def _input_tab(self) -> QtWidgets.QWidget:
        self.image_detail = _combo("Image detail", self._choices.image_details, detail_label)
        # "" stands for the system default (None in the settings): Qt item data cannot hold None.
        self.microphone = _combo("Microphone", ["", *self._choices.microphones],
                                 lambda v: v or SYSTEM_DEFAULT_MIC)
        self.include_screen = _check("Include the screen when I ask by voice", "Include screen with voice")
        self.keep_screenshots = _check("Keep screenshots with the conversation history", "Keep screenshots")
        self.keep_screenshots.setToolTip("When off, a conversation's screenshots are deleted when you leave it "
                                         "(another conversation, a new one, or quitting); the text stays.")
        form = QtWidgets.QFormLayout()
        form.addRow("Image detail", self.image_detail)
        form.addRow("Microphone", self.microphone)
        form.addRow("", self.include_screen)
        form.addRow("", self.keep_screenshots)
        for key, label in self._choices.hotkey_actions.items():
            edit = QtWidgets.QLineEdit()
            edit.setAccessibleName(f"Hotkey: {label}")
            edit.setPlaceholderText("e.g. <ctrl>+<shift>+<space>")
            check = _check("On", f"Enable hotkey: {label}")
            check.toggled.connect(edit.setEnabled)
            row = QtWidgets.QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(check)
            form.addRow(label, row)
            self.hotkey_edits[key], self.hotkey_checks[key] = edit, check
        return self._page(form, "More image detail reads small print better but answers more slowly.")

    def _general_tab(self) -> QtWidgets.QWidget:
        self.close_to_tray = _check("Closing the window keeps Seesay running in the tray", "Close to tray")
        form = QtWidgets.QFormLayout()
        form.addRow("", self.close_to_tray)
        return self._page(form, "Seesay never sends anything over the network: no telemetry, no updates.")

    @staticmethod
    def _page(form: QtWidgets.QFormLayout, hint: str) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        layout = QtWidgets.QVBoxLayout(page)
        layout.addLayout(form)
        note = QtWidgets.QLabel(hint)
        note.setObjectName("Muted")
        note.setWordWrap(True)
        layout.addStretch(1)
        layout.addWidget(note)
        return page

    # --- values ---

    def _load(self, s: dict) -> None:
        self.model_dir.setText(s.get("model_dir") or "")
        _select(self.quantization, s.get("quantization", "int4"))
        _select(self.device, s.get("device", "auto"))
        self.use_draft.setChecked(bool(s.get("use_draft", True)))
        self.system_prompt.setPlainText(s.get("system_prompt", ""))
        self.temperature.setValue(float(s.get("temperature", 1.0)))
        self.max_answer_tokens.setValue(int(s.get("max_answer_tokens", 1024)))
        _select(self.image_detail, s.get("image_detail", 280), detail_label(s.get("image_detail", 280)))
        microphone = s.get("microphone") or ""
        _select(self.microphone, microphone, f"{microphone} (not connected)")
        self.include_screen.setChecked(bool(s.get("include_screen_with_voice", True)))
        self.keep_screenshots.setChecked(bool(s.get("keep_screenshots", True)))
        for key, edit in self.hotkey_edits.items():
            edit.setText(s.get(key, ""))
            self.hotkey_checks[key].setChecked(bool(s.get(f"{key}_enabled", True)))
            edit.setEnabled(self.hotkey_checks[key].isChecked())
        self.close_to_tray.setChecked(bool(s.get("close_to_tray", False)))

    def values(self) -> dict:
        """The settings as now edited: the dict passed in, with the dialog's fields replaced."""
        values = dict(self._original)
        values.update(
            model_dir=self.model_dir.text().strip() or None,
            quantization=self.quantization.currentData(),
            device=self.device.currentData(),
            use_draft=self.use_draft.isChecked(),
            system_prompt=self.system_prompt.toPlainText(),
            temperature=round(self.temperature.value(), 2),
            max_answer_tokens=self.max_answer_tokens.value(),
            image_detail=self.image_detail.currentData(),
            microphone=self.microphone.currentData() or None,
            include_screen_with_voice=self.include_screen.isChecked(),
            keep_screenshots=self.keep_screenshots.isChecked(),
            close_to_tray=self.close_to_tray.isChecked(),
        )
        for key, edit in self.hotkey_edits.items():
            values[key] = edit.text().strip()
            values[f"{key}_enabled"] = self.hotkey_checks[key].isChecked()
        return values

    def browse(self) -> None:
        self.folder_dialog = QtWidgets.QFileDialog(self, "Choose the Gemma 4 12B folder", self.model_dir.text())
        self.folder_dialog.setFileMode(QtWidgets.QFileDialog.FileMode.Directory)
        self.folder_dialog.setOption(QtWidgets.QFileDialog.Option.ShowDirsOnly, True)
        self.folder_dialog.fileSelected.connect(self.model_dir.setText)
        self.folder_dialog.open()

    def _save(self) -> None:
        self.settingsChanged.emit(self.values())
        self.accept()
