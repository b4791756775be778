"""``seesay --self-test MODEL_DIR``: start the real app, load the model, ask one image + audio +
text question through the real window, print a summary, exit 0 when an answer came back.

It proves that a build (frozen or not) has everything it needs: Qt plugins, the processor,
the quantization kernels, the engine's process. History and settings go to a throw-away folder.
"""

import os
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

TIMEOUT_MS = 10 * 60 * 1000


def run_self_test(model_dir: str) -> int:
    home = None
    if not os.environ.get("SEESAY_HOME"):
        home = tempfile.TemporaryDirectory(prefix="seesay-self-test-")
        os.environ["SEESAY_HOME"] = home.name
    from app.desktop import Desktop
    from app.settings import Settings
    from ui.qt import QtWidgets, QTimer

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    settings = Settings(model_dir=model_dir, quantization="int4", max_answer_tokens=8, include_screen_with_voice=False)
    desktop = Desktop(app, settings=settings)
    result = {"code": 1}

    def ready(info):
        print(f"self-test: loaded {info.model_name} ({info.quantization}, {info.device}, {info.dtype}; "
              f"drafter: {info.drafter or 'none'}; kernels: {info.kernels or '-'})", flush=True)
        desktop.chat.attach_image(_test_image())
        t = np.arange(16_000, dtype=np.float32) / 16_000
        desktop.chat.attach_audio((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000)
        if not desktop.chat.send("What do you see and hear?"):
            app.exit(1)

    def done(finish: str, message: str):
        messages = desktop.store.messages(desktop.chat.conversation_id)
        answer = messages[-1]
        stats = answer.stats
        print(f"self-test: answer finished ({finish}), {stats.get('generated_tokens', 0)} tokens; prompt "
              f"{stats.get('prompt_tokens')}; {len(messages)} messages stored", flush=True)
        if finish == "error":
            print(f"self-test: FAILED: {message}", file=sys.stderr)
        result["code"] = 0 if finish in ("stop", "length") and stats.get("prompt_tokens", {}).get("image") else 1
        app.exit(result["code"])

    def failed(message: str):
        print(f"self-test: FAILED to load: {message}", file=sys.stderr)
        app.exit(3)

    desktop.models.ready.connect(ready)
    desktop.chat.answerDone.connect(done)
    desktop.bridge.loadFailed.connect(failed)
    desktop.window.show()
    QTimer.singleShot(0, desktop.models.start)
    QTimer.singleShot(TIMEOUT_MS, lambda: (print("self-test: timed out", file=sys.stderr), app.exit(124)))
    code = app.exec()
    desktop.shutdown()
    if home is not None:
        home.cleanup()
    return code


def _test_image() -> Image.Image:
    image = Image.new("RGB", (640, 400), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 600, 120), fill=(30, 90, 200))
    draw.text((60, 70), "Seesay self-test", fill=(255, 255, 255))
    return image
