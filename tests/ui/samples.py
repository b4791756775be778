"""Sample data for widget tests and screenshots: a conversation with a screenshot and a voice clip."""

from datetime import datetime
from pathlib import Path

from ui.qt import QtGui, Qt
from ui.view_models import AttachmentView, ConversationView, MessageStatus, MessageView, StatusView

ANSWER = """\
## What's on your screen

The editor shows a **Python** function with a bug:

1. `total` starts at `1` instead of `0`.
2. The loop skips the last item.

| Line | Problem | Fix |
|------|---------|-----|
| 3 | wrong start value | `total = 0` |
| 4 | off-by-one | `range(len(items))` |

```python
def add_all(items):
    total = 0
    for i in range(len(items)):
        total += items[i]
    return total
```
"""


def write_image(path: Path, width: int = 640, height: int = 400) -> Path:
    """A small synthetic 'screenshot' (a window with a title bar) saved as PNG."""
    image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("#dfe6f3"))
    painter = QtGui.QPainter(image)
    painter.fillRect(40, 40, width - 80, height - 80, QtGui.QColor("#ffffff"))
    painter.fillRect(40, 40, width - 80, 28, QtGui.QColor("#3b4a66"))
    painter.setPen(QtGui.QColor("#333333"))
    for row in range(8):
        painter.drawText(60, 100 + row * 26, f"line {row + 1}: total += items[i]")
    painter.end()
    assert image.save(str(path)), path
    return path


def conversations() -> list[ConversationView]:
    return [
        ConversationView("c1", "Bug in add_all", datetime(2026, 5, 2, 14, 3)),
        ConversationView("c2", "Translate the dialog box", datetime(2026, 5, 1, 9, 30)),
        ConversationView("c3", "Summarise the meeting notes", datetime(2026, 4, 28, 17, 12)),
    ]


def messages(image_path: Path, audio_path: str = "/tmp/clip.wav") -> list[MessageView]:
    attachments = [
        AttachmentView("image", str(image_path), width=640, height=400),
        AttachmentView("audio", audio_path, seconds=4.2),
    ]
    return [
        MessageView("m1", "user", "What is wrong with this function?", attachments=attachments),
        MessageView("m2", "assistant", ANSWER, stats_text="142 tokens · 12.8 tok/s"),
        MessageView("m3", "user", "And is there a shorter way to write it?"),
        MessageView("m4", "assistant", "Yes: `sum(items)` does the same.",
                    status=MessageStatus.STOPPED, stats_text="9 tokens · 13.1 tok/s"),
    ]


def status() -> StatusView:
    return StatusView("Ready", "CPU", "int8", "9.8 GB in use", 12.8)


def focus_policy_takes_tab(widget) -> bool:
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
