"""Store a question with its attachments off the GUI thread.

Encoding a 2560x1440 screenshot as PNG took ~100 ms on the GUI thread, long enough to freeze the
window just before the answer started (bench: gui). One worker thread stores the questions, one
at a time in the order they were handed over; the stored message (or why it could not be stored)
comes back as a queued signal on the GUI thread. The history itself is safe to call from any
thread (see ``app.store``).
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from inference.errors import SeesayError
from ui.qt import QObject, Signal

log = logging.getLogger(__name__)


class QuestionSaver(QObject):
    saved = Signal(object)  # the stored Message
    failed = Signal(str)  # what to tell the user; nothing was stored

    def __init__(self, store, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seesay-history")

    def save(self, conversation_id: int, text: str, parts: list) -> None:
        self._thread.submit(self._save, conversation_id, text, parts)

    def _save(self, conversation_id: int, text: str, parts: list) -> None:
        try:
            message = self.store.add_message(conversation_id, "user", text, parts)
        except SeesayError as error:
            self.failed.emit(str(error))
        except Exception as error:  # noqa: BLE001 - every failure must reach the user
            log.exception("storing the question failed")
            self.failed.emit(f"Seesay could not save the question: {type(error).__name__}: {error}")
        else:
            self.saved.emit(message)

    def shutdown(self) -> None:
        """Wait for the questions handed over so far (the history is closed after this)."""
        self._thread.shutdown(wait=True)
