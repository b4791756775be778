"""Run by tests/app/test_engine_bridge.py in a fresh process: the real Desktop (offscreen) loads a model,
answers a question about a screenshot through the chat controller, and reports which heavy modules
this, the GUI process, imported meanwhile (there must be none: they belong to the engine's process),
and which of the modules the window defers until after its first paint were imported before it."""

import sys

HEAVY = ("torch", "transformers", "optimum", "inference.engine", "inference.generate", "inference.prompt")
TIMEOUT_MS = 180_000
AFTER_FIRST_PAINT = ("numpy", "soundfile")  # ~0.1 s of imports a window on a slow CPU can show without


def main(model_dir: str) -> dict:
    from app.desktop import Desktop
    from app.settings import Settings
    from ui.qt import QtWidgets, QTimer

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    settings = Settings(model_dir=model_dir, quantization="int4", max_answer_tokens=4, temperature=0.0,
                        include_screen_with_voice=False, hotkey_ask_screen_enabled=False,
                        hotkey_push_to_talk_enabled=False)
    hook = sys.excepthook
    desktop = Desktop(app, settings=settings)
    sys.excepthook = hook
    result = {"answer": None, "image_tokens": 0,
              "before_first_paint": [name for name in AFTER_FIRST_PAINT if name in sys.modules]}
    from tests.app.desktop_kit import picture  # after the window is built: what it imports does not count

    def ready(_info):
        desktop.chat.attach_image(picture("probe"))
        if not desktop.chat.send("What is on the screen?"):
            result["answer"] = "not sent"
            app.exit(1)

    def done(finish: str, message: str):
        result["answer"] = finish if finish != "error" else f"error: {message}"
        stats = desktop.store.messages(desktop.chat.conversation_id)[-1].stats
        result["image_tokens"] = stats.get("prompt_tokens", {}).get("image", 0)
        app.exit(0)

    desktop.models.ready.connect(ready)
    desktop.chat.answerDone.connect(done)
    desktop.bridge.loadFailed.connect(lambda message: (result.update(answer=f"load failed: {message}"), app.exit(1)))
    QTimer.singleShot(0, desktop.models.start)
    QTimer.singleShot(TIMEOUT_MS, lambda: (result.update(answer="timed out"), app.exit(1)))
    app.exec()
    desktop.shutdown()
    result["heavy_modules"] = [name for name in HEAVY if name in sys.modules]
    return result
