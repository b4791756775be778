"""The conversation flow: the user's intent from the window -> history store + engine -> the view.

A question is stored (its screenshots encoded as PNG) on the saver's thread and asked once it is
stored; streaming answers are saved while they arrive (every half second), so a crash mid-answer
keeps the partial text, marked as such. Nothing here runs the model: the bridge does, in the
engine's process.
"""

import itertools
import logging
import time
from dataclasses import asdict, replace
from functools import partial

from PIL import Image

from app.question_saver import QuestionSaver
from app.store import HistoryStore
from app.turns import to_turns, to_view
from inference.conversation import AudioPart, ImagePart
from inference.errors import InputError, SeesayError
from ui.attachments import PendingAttachment
from ui.qt import QObject, QtGui, QTimer, Signal
from ui.view_models import ConversationView, MessageStatus

log = logging.getLogger(__name__)
SAVE_EVERY_S = 0.5
_FINISH_STATUS = {"stop": ("complete", MessageStatus.DONE), "length": ("complete", MessageStatus.TRUNCATED),
                  "cancelled": ("cancelled", MessageStatus.STOPPED)}


class ChatController(QObject):
    answerStarted = Signal(str)  # request id
    answerPiece = Signal(str)  # text, for the quick-ask popup
    answerDone = Signal(str, str)  # finish reason or "error", message

    def __init__(self, window, store: HistoryStore, bridge, settings_source):
        super().__init__(window)
        self.window, self.store, self.bridge = window, store, bridge
        self.settings = settings_source  # a callable returning the current Settings
        self.input = window.input_bar
        self.conversation_id: int | None = None
        self.pending: dict[str, object] = {}  # chip id -> ImagePart / AudioPart
        self._ids = itertools.count(1)
        self._answer: dict | None = None  # the answer under way, from the moment its question is sent
        self.engine_ready = False
        self.saver = QuestionSaver(store, self)
        self._connect()
        self.refresh_conversations()

    # -- wiring ------------------------------------------------------------------------------------
    def _connect(self) -> None:
        chat, conv = self.window.chat, self.window.conversations
        self.input.sendRequested.connect(self.send)
        self.input.stopRequested.connect(self.stop)
        chat.stopRequested.connect(self.stop)
        self.input.attachmentRemoved.connect(lambda chip: self.pending.pop(chip, None))
        self.input.imagePasted.connect(lambda image: self.attach_image(qimage_to_pil(image), "Pasted image"))
        self.input.filesDropped.connect(self.attach_files)
        chat.regenerateRequested.connect(self.regenerate)
        chat.editResendRequested.connect(self.edit_and_resend)
        conv.newRequested.connect(self.new_conversation)
        conv.conversationSelected.connect(lambda cid: self.open_conversation(int(cid)))
        conv.renameRequested.connect(lambda cid, title: self._guard(self.store.rename_conversation, int(cid), title))
        conv.renameRequested.connect(lambda *_: self.refresh_conversations())
        conv.deleteRequested.connect(self.delete_conversation)
        conv.searchChanged.connect(self.refresh_conversations)
        conv.exportRequested.connect(lambda cid: self.export(int(cid)))
        chat.playAudioRequested.connect(self.play_audio)
        self.bridge.piece.connect(self._on_piece)
        self.bridge.answered.connect(self._on_answered)
        self.bridge.answerFailed.connect(self._on_failed)
        self.saver.saved.connect(self._on_saved)
        self.saver.failed.connect(self._on_save_failed)

    # -- conversations -----------------------------------------------------------------------------
    def refresh_conversations(self, search: str = "") -> None:
        from datetime import datetime

        items = self.store.list_conversations(search or None)
        self.window.conversations.set_conversations(
            [ConversationView(str(c.id), c.title, datetime.fromtimestamp(c.updated)) for c in items])
        if self.conversation_id is not None:
            self.window.conversations.set_current(str(self.conversation_id))

    def new_conversation(self) -> None:
        self.leave_conversation()
        self.conversation_id = None
        self.window.chat.clear()
        self.window.conversations.set_current(None)
        self.bridge.forget()

    def open_conversation(self, conversation_id: int) -> None:
        if self._answer is not None or conversation_id == self.conversation_id:
            return
        self.leave_conversation()
        self.conversation_id = conversation_id
        self.window.chat.set_messages([to_view(m) for m in self.store.messages(conversation_id)])

    def leave_conversation(self, quitting: bool = False) -> None:
        """With "Keep screenshots" off, a conversation's screenshots go when the user leaves it (a
        new one, another one, quitting): follow-ups while it is open still see them."""
        if self.conversation_id is None or self.settings().keep_screenshots:
            return
        if self._answer is not None and not quitting:  # the answer being written still needs them
            return
        self._guard(self.store.forget_images, self.conversation_id)

    def delete_conversation(self, conversation_id: str) -> None:
        cid = int(conversation_id)
        if self._answer is not None and self._answer["conversation"] == cid:
            self.window.show_error("Stop the answer before deleting its conversation.")
            return
        self._guard(self.store.delete_conversation, cid)
        if cid == self.conversation_id:
            self.new_conversation()
        self.refresh_conversations()

    def export(self, conversation_id: int, folder: str | None = None) -> None:
        """Save a conversation as Markdown with its images beside it, in a folder the user picks."""
        from ui.qt import QtWidgets

        folder = folder or QtWidgets.QFileDialog.getExistingDirectory(self.window, "Export the conversation to")
        if not folder:
            return
        path = self._guard(self.store.export_markdown, conversation_id, folder)
        if path is not None:
            self.window.show_notice(f"Saved as {path}")

    def play_audio(self, path: str) -> None:
        """Play a stored voice clip on the default output (sounddevice plays it in the background)."""
        try:
            import sounddevice
            import soundfile

            samples, rate = soundfile.read(path, dtype="float32")
            sounddevice.stop()
            sounddevice.play(samples, rate)
        except Exception as error:  # noqa: BLE001 - no output device, unreadable file, no PortAudio
            self.window.show_error(f"Cannot play {path}: {error}")

    # -- attachments -------------------------------------------------------------------------------
    def attach_image(self, image: Image.Image, label: str = "Screenshot") -> str:
        chip = f"a{next(self._ids)}"
        self.pending[chip] = ImagePart(image)
        self.input.add_attachment(PendingAttachment(chip, "image", f"{label} {image.width}×{image.height}",
                                                    chip_image(image)))
        return chip

    def attach_audio(self, samples, rate: int, label: str = "Voice") -> str:
        chip = f"a{next(self._ids)}"
        part = AudioPart(samples, rate)
        self.pending[chip] = part
        seconds = int(round(part.seconds))
        self.input.add_attachment(PendingAttachment(chip, "audio", f"{label} {seconds // 60}:{seconds % 60:02d}"))
        return chip

    def attach_files(self, paths: list[str]) -> None:
        from inference.media import load_audio_file, load_image_file

        for path in paths:
            try:
                if path.lower().endswith((".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".aiff")):
                    samples, rate = load_audio_file(path)
                    _check_audio_length(path, len(samples) / rate, max_audio_seconds(self.settings()))
                    self.attach_audio(samples, rate, label="Audio")
                else:
                    self.attach_image(load_image_file(path), label="Image")
            except SeesayError as error:
                self.window.show_error(str(error))

    # -- asking ------------------------------------------------------------------------------------
    def send(self, text: str, detail: int | None = None) -> bool:
        """Store the question with its attachments, then ask the engine; False if it cannot start.

        The question is stored on the saver's thread: the input keeps it until then, and keeps it
        if it cannot be stored (``answerDone`` then says "error")."""
        if self._answer is not None:
            self.window.show_error("Seesay is still answering: stop that answer first.")
            return False
        if not self.engine_ready:
            self.window.show_error("The model is not loaded yet: wait for it, or choose a model folder.")
            return False
        chips = [c for c in self.input.attachment_ids() if c in self.pending]
        parts = [self.pending[c] for c in chips]
        if not text.strip() and not parts:
            return False
        try:
            if self.conversation_id is None:
                title = (text.strip().splitlines() or ["Screen question"])[0][:60] or "Screen question"
                self.conversation_id = self.store.create_conversation(title).id
                self.bridge.forget()
        except SeesayError as error:
            self.window.show_error(str(error))
            return False
        self._store_and_ask(text.strip(), parts, detail, sent_from_input=chips)
        return True

    def _store_and_ask(self, text: str, parts: list, detail: int | None, sent_from_input: list | None) -> None:
        self._answer = {"request": None, "conversation": self.conversation_id, "detail": detail,
                        "chips": sent_from_input, "text_sent": text, "parts": parts, "stopped": False}
        self.input.set_busy(True)  # Send becomes Stop at once: Stop now means "don't answer"
        self.saver.save(self.conversation_id, text, parts)

    def _on_saved(self, message) -> None:
        waiting = self._answer
        if waiting is None or waiting["request"] is not None:
            return
        if waiting["chips"] is not None:  # sent from the input bar: done with what was sent, only that
            self._take_sent_from_input(waiting["chips"], waiting["text_sent"])
        if self.conversation_id == waiting["conversation"]:
            self.window.chat.add_message(to_view(message))
        self.refresh_conversations()
        # The answer starts on a later turn of the event loop, so the window paints the question and
        # handles input in between: both bubbles and their layout in one go held it ~35 ms (bench:
        # gui). 1 ms, not 0: a zero-delay call is a posted event, delivered before due timers.
        QTimer.singleShot(1, partial(self._start_answer, waiting))

    def _start_answer(self, waiting: dict) -> None:
        if self._answer is not waiting:
            return
        self._answer = None
        if self.conversation_id != waiting["conversation"]:  # "New conversation" was pressed meanwhile:
            self.conversation_id = waiting["conversation"]  # show the question being answered
            self.open_conversation_again()
        if waiting["stopped"]:  # Stop came before the answer began: the question stays, unanswered
            self.input.set_busy(False)
            self.answerDone.emit("cancelled", "")
            return
        try:
            self._ask(waiting["detail"])
        except SeesayError as error:  # the history could not start the answer (disk full, ...)
            self._answer = None
            self.input.set_busy(False)
            self.window.show_error(str(error))
            self.answerDone.emit("error", str(error))

    def _put_back(self, text: str, parts: list) -> None:
        for part in parts:
            if isinstance(part, ImagePart):
                self.attach_image(part.image)
            elif isinstance(part, AudioPart):
                self.attach_audio(part.samples, part.sample_rate)
        if not self.input.text().strip():
            self.input.set_text(text)

    def _take_sent_from_input(self, chips: list, text_sent: str) -> None:
        """What the user typed or attached while the question was being stored stays in the input."""
        for chip in chips:
            self.pending.pop(chip, None)
        if self.input.text().strip() == text_sent and not set(self.input.attachment_ids()) - set(chips):
            self.input.clear()
            return
        for chip in chips:
            self.input.remove_attachment(chip)
        if self.input.text().strip() == text_sent:
            self.input.set_text("")

    def _on_save_failed(self, message: str) -> None:
        waiting = self._answer
        if waiting is None or waiting["request"] is not None:
            return
        self._answer = None
        self.input.set_busy(False)
        if waiting["chips"] is None:  # an edited question: its old version is gone, so it goes to the input
            self._put_back(waiting["text_sent"], waiting["parts"])
        self.window.show_error(message)
        self.answerDone.emit("error", message)

    def _ask(self, detail: int | None) -> None:
        from inference.records import GenerationSettings  # plain data: no torch in the GUI process

        settings = self.settings()
        history = self.store.messages(self.conversation_id)
        turns = partial(to_turns, history, settings.system_prompt)  # reads the stored files: on the bridge's thread
        answer_id = self.store.begin_answer(self.conversation_id)
        request = f"r{next(self._ids)}"
        self._answer = {"request": request, "message": answer_id, "conversation": self.conversation_id,
                        "text": [], "saved": time.monotonic()}
        view = to_view(self.store.messages(self.conversation_id)[-1])
        self.window.chat.add_message(view)
        self.window.chat.begin_answer(str(answer_id))
        self.input.set_busy(True)
        self.window.status_line.set_status(replace(self.window.status_line.status, model_state="Answering…"))
        self.answerStarted.emit(request)
        self.bridge.ask(request, turns, GenerationSettings(
            max_new_tokens=settings.max_answer_tokens, temperature=settings.temperature,
            top_p=settings.top_p, top_k=settings.top_k, use_draft=settings.use_draft,
            greedy=settings.temperature <= 0,  # Settings allow 0; sampling refuses it: 0 means greedy
            image_detail=detail or settings.image_detail))

    def draft_turns(self, image, samples, rate: int) -> list | None:
        """The conversation plus a user turn still being recorded, as it will be stored (so the
        engine can prefill it now and reuse that work when the question is sent)."""
        from app.store_files import as_stored_audio
        from inference.conversation import Turn

        if not self.engine_ready or self._answer is not None:
            return None
        history = self.store.messages(self.conversation_id) if self.conversation_id is not None else []
        turns = to_turns(history, self.settings().system_prompt)
        parts = [ImagePart(image)] if image is not None else []
        if len(samples):
            parts.append(AudioPart(as_stored_audio(samples, rate), rate))
        return turns + [Turn("user", parts)] if parts else None

    def stop(self) -> None:
        if self._answer is None:
            return
        if self._answer["request"] is None:  # still being stored: the answer will not start
            self._answer["stopped"] = True
        else:
            self.bridge.cancel()

    def regenerate(self) -> None:
        last = self._last_answer()
        if last is None or self._answer is not None:
            return
        self.store.delete_message_and_after(last.id)
        self.open_conversation_again()
        self._ask(None)

    def edit_and_resend(self, text: str) -> None:
        if self._answer is not None or self.conversation_id is None:
            return
        questions = [m for m in self.store.messages(self.conversation_id) if m.role == "user"]
        if not questions:
            return
        last = questions[-1]
        parts = [_part_from_attachment(a) for a in last.attachments]  # read before deleting removes the files
        self.store.delete_message_and_after(last.id)
        self.open_conversation_again()
        self._store_and_ask(text.strip(), parts, None, sent_from_input=None)

    def open_conversation_again(self) -> None:
        cid, self.conversation_id = self.conversation_id, None
        self.open_conversation(cid)

    def _last_answer(self):
        if self.conversation_id is None:
            return None
        answers = [m for m in self.store.messages(self.conversation_id) if m.role == "assistant"]
        return answers[-1] if answers else None

    # -- streaming results -------------------------------------------------------------------------
    def _on_piece(self, request: str, text: str) -> None:
        answer = self._answer
        if answer is None or answer["request"] != request:
            return
        answer["text"].append(text)
        self.window.chat.append_answer_text(str(answer["message"]), text)
        self.answerPiece.emit(text)
        if time.monotonic() - answer["saved"] >= SAVE_EVERY_S:
            answer["saved"] = time.monotonic()
            self._guard(self.store.update_answer, answer["message"], "".join(answer["text"]))

    def _on_answered(self, request: str, finish: str, stats) -> None:
        answer = self._answer
        if answer is None or answer["request"] != request:
            return
        self._answer = None
        status, view_status = _FINISH_STATUS.get(finish, ("complete", MessageStatus.DONE))
        text = "".join(answer["text"])
        self._guard(self.store.finish_answer, answer["message"], text, status, asdict(stats))
        stats_text = f"{stats.generated_tokens} tokens · {stats.tokens_per_s:.1f} tok/s"
        self.window.chat.finish_answer(str(answer["message"]), view_status, stats_text=stats_text)
        self.input.set_busy(False)
        self.window.status_line.set_status(replace(self.window.status_line.status, model_state="Ready",
                                                   tokens_per_second=stats.tokens_per_s))
        self.refresh_conversations()
        self.answerDone.emit(finish, "")

    def _on_failed(self, request: str, message: str) -> None:
        answer = self._answer
        if answer is None or answer["request"] != request:
            return
        self._answer = None
        text = "".join(answer["text"])
        self._guard(self.store.finish_answer, answer["message"], text, "error", {"error": message})
        self.window.chat.finish_answer(str(answer["message"]), MessageStatus.ERROR, note=message)
        self.input.set_busy(False)
        self.window.show_error(message)
        self.answerDone.emit("error", message)

    def is_answering(self) -> bool:
        return self._answer is not None

    def _guard(self, call, *args):
        try:
            return call(*args)
        except SeesayError as error:
            self.window.show_error(str(error))
            return None


def max_audio_seconds(settings) -> float:
    """The longest clip the engine takes: 5 minutes, or the recording limit if that is longer."""
    return max(300.0, float(settings.max_recording_seconds))


def _check_audio_length(path: str, seconds: float, limit: float) -> None:
    """Refuse a clip the engine would refuse: once stored, it would fail every later question of its
    conversation."""
    if seconds > limit:
        def minutes(s: float) -> str:
            return f"{int(s) // 60} min {int(s) % 60:02d} s"

        raise InputError(f"The audio file {path} is {minutes(seconds)} long; Seesay takes at most "
                         f"{minutes(limit)}. Trim it, or raise the recording limit in Settings.")


def _part_from_attachment(attachment):
    from app.turns import _audio, _image

    stamp = attachment.path.stat().st_mtime
    if attachment.kind == "image":
        return ImagePart(_image(str(attachment.path), stamp))
    return AudioPart(*_audio(str(attachment.path), stamp))


def qimage_to_pil(image: QtGui.QImage) -> Image.Image:
    rgb = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    data = bytes(rgb.constBits())[: rgb.sizeInBytes()]
    return Image.frombuffer("RGB", (rgb.width(), rgb.height()), data, "raw", "RGB", rgb.bytesPerLine(), 1).copy()


def pil_to_qimage(image: Image.Image, max_side: int = 256) -> QtGui.QImage:
    thumb = image.convert("RGB")
    thumb.thumbnail((max_side, max_side))
    data = thumb.tobytes()
    return QtGui.QImage(data, thumb.width, thumb.height, 3 * thumb.width, QtGui.QImage.Format.Format_RGB888).copy()


def chip_image(image: Image.Image, short_side: int = 144) -> QtGui.QImage:
    """A small copy for an input-bar chip (72 px at most, 144 on a HiDPI screen), made on the GUI
    thread: one pixel in every few to twice the size, then 2x2 averages. ~0.3 ms for a 2560x1440
    screenshot; averaging all of it (``reduce``) took 2.5 ms idle and 4-7 ms beside the engine."""
    factor = min(image.size) // short_side
    if factor >= 4 and image.mode in ("RGB", "RGBA", "L"):
        size = (image.width // factor * 2, image.height // factor * 2)
        image = image.resize(size, Image.Resampling.NEAREST).reduce(2)
    elif factor > 1 and image.mode in ("RGB", "RGBA", "L"):
        image = image.reduce(factor)
    return pil_to_qimage(image, max_side=max(image.size))
