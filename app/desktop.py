"""The composition root: builds settings, store, engine bridge and windows, in this order:
exception hook, arguments, directories, logging, single instance, settings, storage, window.

The window is shown first; the engine loads afterwards in a process of its own
(app/engine_bridge.py): this process never imports torch.
"""

import argparse
import gc
import logging
import os
import sys
import time
import traceback
from logging.handlers import RotatingFileHandler

log = logging.getLogger("seesay")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="seesay", description="Seesay: ask about your screen, by voice or text.")
    parser.add_argument("--model", help="model folder for this run (overrides Settings)")
    parser.add_argument("--ask-screen", action="store_true", help="ask the running Seesay about the screen")
    parser.add_argument("--talk", action="store_true", help="toggle push-to-talk in the running Seesay")
    parser.add_argument("--self-test", metavar="MODEL_DIR", help="load MODEL_DIR, answer one question, exit")
    parser.add_argument("--print-startup-time", action="store_true",
                        help="print seconds to a visible window, then to a loaded model")
    parser.add_argument("--debug", action="store_true", help="log everything")
    return parser.parse_args(argv)


def run_desktop(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return 2 if exit_.code else 0
    if args.self_test:
        from app.self_test import run_self_test

        return run_self_test(args.self_test)
    from app import paths

    _setup_logging(paths.log_dir(), args.debug)
    from ui.qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    app.setApplicationName("Seesay")
    app.setDesktopFileName("seesay")  # matches seesay.desktop: the desktop shows its icon and name
    app.setQuitOnLastWindowClosed(False)

    from app.single_instance import SingleInstance

    instance = SingleInstance()
    command = "ask-screen" if args.ask_screen else "talk" if args.talk else "show"
    if not instance.try_become_primary():
        if instance.send_command(command):
            return 0
        print("seesay: another Seesay is running but does not answer; close it and try again", file=sys.stderr)
        return 1
    desktop = Desktop(app, model_override=args.model)
    instance.commandReceived.connect(desktop.on_command)
    if args.print_startup_time:
        desktop.window_visible.connect(lambda seconds: print(f"window visible after {seconds:.3f} s", flush=True))
        desktop.models.ready.connect(lambda _info: print(f"model ready after {_since_start():.3f} s", flush=True))
    desktop.start(initial_command=None if command == "show" else command)
    code = app.exec()
    desktop.shutdown()
    instance.close()
    return code


class Desktop:
    """Everything the running app holds, wired together."""

    def __init__(self, app, model_override: str | None = None, settings=None, store=None):
        from app.capture_controller import CaptureController
        from app.chat_controller import ChatController
        from app.engine_bridge import EngineBridge
        from app.model_controller import ModelController
        from app.settings import load_settings
        from app.store import HistoryStore
        from ui.input_bar import InputBar
        from ui.main_window import MainWindow
        from ui.qt import QObject, Signal
        from ui.quick_ask import QuickAskPopup
        from ui.theme import apply_theme

        class _Signals(QObject):
            visible = Signal(float)

        self.app = app
        self._signals = _Signals()
        self.window_visible = self._signals.visible
        notice = None
        if settings is None:
            settings, notice = load_settings()
        apply_theme(app)
        self.store = store or HistoryStore()
        self.window = MainWindow(InputBar())
        self.window.input_bar.set_detail(settings.image_detail)
        self.popup = QuickAskPopup()
        self.bridge = EngineBridge()
        self.models = ModelController(self.window, self.bridge, None, settings, model_override)
        self.chat = ChatController(self.window, self.store, self.bridge, lambda: self.models.settings)
        self.models.chat = self.chat
        self.capture = CaptureController(self.window, self.chat, self.popup, lambda: self.models.settings)
        from app.download_controller import DownloadController

        self.download = DownloadController(self.window, self.models)
        self.window.set_close_to_tray(settings.close_to_tray)
        self.models.settingsChanged.connect(self._apply_settings)
        self.hotkeys = None
        self.tray = None
        if notice:
            self.window.show_notice(notice)
        _install_crash_dialog(self.window)

    def start(self, initial_command: str | None = None) -> None:
        from ui.qt import QTimer

        self.window.show()
        self._report_visible()
        self.app.lastWindowClosed.connect(self._on_last_window_closed)
        from app.capture.exclude import exclude_from_capture

        for widget in (self.window, self.popup):  # Windows and macOS; elsewhere captures hide them
            exclude_from_capture(int(widget.winId()))
        # Everything that may take time comes after the first paint.
        QTimer.singleShot(0, self.models.start)
        QTimer.singleShot(0, self._start_hotkeys)
        QTimer.singleShot(0, self._start_tray)
        if self.models.settings.hotkey_push_to_talk_enabled and sys.platform != "darwin":
            QTimer.singleShot(0, self.capture.warm_microphone)
        if initial_command:
            QTimer.singleShot(0, lambda: self.on_command(initial_command))
        QTimer.singleShot(0, _freeze_startup_heap)  # after the start-up work queued above

    def _on_last_window_closed(self) -> None:
        """Closing the window quits, unless Settings keep Seesay in the tray. (The app does not quit by
        itself on the last close: the window hidden for a capture or to the tray must not end it.)"""
        if not self.window.close_to_tray:
            self.app.quit()

    def _report_visible(self) -> None:
        self.window_visible.emit(_since_start())

    def on_command(self, command: str) -> None:
        if command == "show":
            self.capture.show_main()
        elif command == "ask-screen":
            self.capture.ask_screen()
        elif command in ("talk", "talk-start", "talk-stop"):
            recording = self.capture.microphone is not None and self.capture.microphone.is_recording
            if command == "talk-start" or (command == "talk" and not recording):
                self.capture.talk_pressed()
            else:
                self.capture.talk_released()

    def _start_hotkeys(self) -> None:
        from app.hotkeys import HotkeyBindings, HotkeyManager

        try:
            self.hotkeys = HotkeyManager()
            self.hotkeys.askScreen.connect(self.capture.ask_screen)
            self.hotkeys.talkPressed.connect(self.capture.talk_pressed)
            self.hotkeys.talkReleased.connect(self.capture.talk_released)
            self.hotkeys.unavailable.connect(lambda why: log.info("global hotkeys: %s", why))
            self.hotkeys.apply(HotkeyBindings.from_settings(self.models.settings))
        except Exception as error:  # noqa: BLE001 - hotkeys are optional; commands still work
            log.warning("global hotkeys are off: %s", error)
            self.window.show_notice(f"Global hotkeys are off: {error}")

    def _start_tray(self) -> None:
        from ui.qt import QtGui, QtWidgets

        if not QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
            return
        from app import paths

        icon_path = paths.asset_path("icons/seesay-256.png")
        self.tray = QtWidgets.QSystemTrayIcon(QtGui.QIcon(str(icon_path)), self.window)
        menu = QtWidgets.QMenu()
        menu.addAction("Ask about screen", self.capture.ask_screen)
        menu.addAction("Talk", lambda: self.on_command("talk"))
        menu.addAction("Show Seesay", self.capture.show_main)
        menu.addSeparator()
        menu.addAction("Quit", self.app.quit)
        self.tray.setContextMenu(menu)
        self.tray.setToolTip("Seesay")
        self.tray.show()
        self._tray_menu = menu

    def _apply_settings(self, settings) -> None:
        self.window.set_close_to_tray(settings.close_to_tray)
        if self.hotkeys is not None:
            from app.hotkeys import HotkeyBindings

            try:
                self.hotkeys.apply(HotkeyBindings.from_settings(settings))
            except Exception as error:  # noqa: BLE001 - an invalid combo: say which
                self.window.show_error(str(error))

    def shutdown(self) -> None:
        if self.hotkeys is not None:
            self.hotkeys.stop()
        self.capture.shutdown()
        self.download.shutdown()
        self.bridge.shutdown()
        self.chat.saver.shutdown()
        self.chat.leave_conversation(quitting=True)  # "Keep screenshots" off: the open conversation's go too
        self.store.close()


def _freeze_startup_heap() -> None:
    """Take what start-up made (modules, classes, Qt wrappers, the window: kept for the app's life
    anyway) out of the garbage collector's sight. Each full collection otherwise walks all of it
    with the GIL held: 30-40 ms on the GUI thread, at a moment no one chooses (bench: gui, as a
    question with a screenshot is sent). Only the young generations are collected first: a full
    collection would be such a stall itself. (The engine's process freezes its own heap after
    importing torch: inference/warm_imports.py.)"""
    gc.collect(1)
    gc.freeze()


def _since_start() -> float:
    """Seconds since this process started (not since Python ran: the interpreter's start counts too).

    On Linux from /proc (clock ticks since boot, ~10 ms): psutil's create_time rounds the boot time
    to whole seconds and could be ~1 s off.
    """
    try:
        fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, IndexError, ValueError, AttributeError):
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())


def _setup_logging(folder, debug: bool) -> None:
    handler = RotatingFileHandler(folder / "seesay.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def _install_crash_dialog(window) -> None:
    """An uncaught exception shows a dialog with a copyable report (nothing is sent anywhere)."""
    from ui.crash_dialog import CrashDialog

    def hook(kind, value, tb):
        report = "".join(traceback.format_exception(kind, value, tb))
        log.error("uncaught exception:\n%s", report)
        if os.environ.get("SEESAY_NO_CRASH_DIALOG"):
            sys.__excepthook__(kind, value, tb)
            return
        dialog = CrashDialog(report, window)
        dialog.open()
        window._crash_dialog = dialog

    sys.excepthook = hook
