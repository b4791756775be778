"""The model's life in the app: setup page, verification, loading in the engine's process, status line,
settings changes that need a reload. A model that fails to load leaves the app usable."""

import dataclasses
import logging

from app import paths
from app.chat_controller import max_audio_seconds
from app.settings import Settings, save_settings, settings_from_dict
from inference.sizes import human_size
from ui.qt import QObject, Signal
from ui.view_models import StatusView

log = logging.getLogger(__name__)
RELOAD_KEYS = ("model_dir", "assistant_dir", "quantization", "device", "use_draft", "context_tokens")


class ModelController(QObject):
    settingsChanged = Signal(object)  # Settings
    ready = Signal(object)  # EngineInfo

    def __init__(self, window, bridge, chat, settings: Settings, model_override: str | None = None):
        super().__init__(window)
        self.window, self.bridge, self.chat = window, bridge, chat
        self.settings = settings
        self.model_override = model_override  # `seesay --model DIR`: this run only
        self.info = None
        window.setup.modelFolderChosen.connect(self.choose_folder)
        window.settingsRequested.connect(self.open_settings)
        bridge.loadProgress.connect(self._on_progress)
        bridge.loaded.connect(self._on_loaded)
        bridge.loadFailed.connect(self._on_failed)

    def start(self) -> None:
        if self.model_dir():
            self.load()
        else:
            self.window.show_setup()

    def model_dir(self) -> str | None:
        return self.model_override or self.settings.model_dir

    def choose_folder(self, folder: str) -> None:
        """The setup page's folder: verify it (cheap, no torch) and load it if it is usable."""
        from inference.locate import locate_assistant
        from inference.verify import check_assistant, check_model

        report, problems = check_model(folder)
        if report is None:
            self.window.setup.show_problems(problems)
            return
        drafter = locate_assistant(report.path, None)
        if drafter is not None:
            _, drafter_problems = check_assistant(drafter, report)
            problems += [f"Drafter: {p}" for p in drafter_problems]
        self.window.setup.show_problems(problems)  # warnings only, at this point
        self.model_override = None
        self.update_settings({"model_dir": str(report.path)})

    def load(self) -> None:
        from inference.loader import LoadOptions  # plain data: importing it loads no torch

        s = self.settings
        self.chat.engine_ready = False
        self.window.show_chat()
        self._status(model_state="Loading…")
        self.bridge.load(LoadOptions(
            model=self.model_dir(), assistant=s.assistant_dir, use_draft=s.use_draft,
            quantization=s.quantization, device=s.device, context_tokens=s.context_tokens,
            cache_dir=paths.quantized_dir(), max_audio_seconds=max_audio_seconds(s),
        ))

    def update_settings(self, changes: dict) -> None:
        old = self.settings
        merged = settings_from_dict({**dataclasses.asdict(old), **changes})
        self.settings = merged
        try:
            save_settings(merged)
        except OSError as error:
            self.window.show_error(f"Settings could not be saved ({error}); they apply until Seesay closes.")
        self.settingsChanged.emit(merged)
        if any(getattr(old, k) != getattr(merged, k) for k in RELOAD_KEYS) and self.model_dir():
            if self.chat.is_answering():
                self.bridge.cancel()
            self.load()

    def open_settings(self) -> None:
        from app.capture.microphone import list_input_devices
        from ui.settings_dialog import SettingsDialog
        from ui.view_models import SettingsChoices

        try:
            microphones = [d.name for d in list_input_devices()]
        except Exception:  # noqa: BLE001 - no audio system: offer the default only
            microphones = []
        dialog = SettingsDialog(dataclasses.asdict(self.settings),
                                SettingsChoices(devices=["auto", "cpu", "cuda", "mps"], microphones=microphones),
                                self.window)
        dialog.settingsChanged.connect(self.update_settings)
        dialog.open()
        self._dialog = dialog

    # -- from the engine ---------------------------------------------------------------------------
    def _on_progress(self, what: str, fraction: float) -> None:
        self._status(model_state=f"Loading… {fraction:.0%}")
        self.window.status_line.setToolTip(what)

    def _on_loaded(self, info) -> None:
        self.info = info
        self.chat.engine_ready = True
        self._status(model_state="Ready", device=info.device.upper().split(":")[0],
                     quantization=info.quantization if info.quantization != "none" else info.dtype,
                     memory_text=f"{human_size(info.resident_bytes)} in use")
        self.ready.emit(info)

    def _on_failed(self, message: str) -> None:
        self.chat.engine_ready = False
        self._status(model_state="Model not loaded")
        self.window.show_error(message)
        if not self.settings.model_dir and not self.model_override:
            self.window.show_setup()

    def _status(self, **changes) -> None:
        current = getattr(self.window.status_line, "status", StatusView())
        self.window.status_line.set_status(dataclasses.replace(current, **changes))
