"""Conversation history: SQLite for text, files beside it for screenshots (PNG) and voice (FLAC).

Durability: the database runs in WAL mode with ``synchronous=NORMAL``; every call is its own
transaction, so a crash (even ``kill -9``) keeps everything committed before it and the file stays
consistent. A streamed answer is created "partial" (:meth:`HistoryStore.begin_answer`), its text is
saved every so often while it streams (:meth:`update_answer`), and it becomes "complete",
"cancelled" or "error" at the end (:meth:`finish_answer`): after a crash it shows as partial.

Attachment files are written before the rows that name them are committed and deleted after the
rows are gone, so the database never names a missing file; a crash can at worst leave an unnamed
file behind.

Threads: one connection shared by all threads, every call serialised by a lock, so any method can be
called from any thread (the app calls it mostly from the GUI thread). Times are seconds since the
epoch (``time.time()``).
"""

import json
import logging
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from app import paths
from app.store_files import (AttachmentInput, delete_files, encode_attachment, move_aside, thumbnail_path,
                              write_file)
from inference.errors import SeesayError

log = logging.getLogger(__name__)

Status = Literal["complete", "partial", "error", "cancelled"]
STATUSES = ("complete", "partial", "error", "cancelled")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'error', 'cancelled')),
    created REAL NOT NULL,
    stats TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'audio')),
    path TEXT NOT NULL,  -- relative to the attachments folder
    width INTEGER,
    height INTEGER,
    seconds REAL
);
CREATE INDEX attachments_by_message ON attachments (message_id);
"""


class StoreError(SeesayError):
    """The history could not be read or written."""


def _save_failure(error: Exception) -> str:
    detail = getattr(error, "strerror", None) or str(error)
    if "full" in str(error).lower() or getattr(error, "errno", None) == 28:
        return f"Seesay could not save to its history ({detail}); free some disk space and try again."
    return f"Seesay could not save to its history ({detail}); try again, or restart Seesay."


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float


@dataclass(frozen=True)
class Attachment:
    id: int
    kind: Literal["image", "audio"]
    path: Path  # absolute
    width: int | None = None  # images
    height: int | None = None
    seconds: float | None = None  # audio

    @property
    def thumbnail(self) -> Path | None:
        """An image's small copy, for showing it; may be missing (images stored before there were)."""
        return thumbnail_path(self.path) if self.kind == "image" else None


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: Literal["system", "user", "assistant"]
    text: str
    status: Status
    created: float
    attachments: list[Attachment] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


class HistoryStore:
    """All conversations; ``notice`` says (once) when a damaged database had to be set aside."""

    def __init__(self, db_path: Path | str | None = None, attachments_root: Path | str | None = None):
        self.db_path = Path(db_path) if db_path is not None else paths.history_db_path()
        self.attachments_root = (Path(attachments_root) if attachments_root is not None
                                 else paths.attachments_dir())
        self.notice: str | None = None
        self._lock = threading.RLock()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and "unable to open" in str(error):
                raise StoreError(f"Seesay cannot open its history file {self.db_path} ({error}); "
                                 "check that the folder exists and is writable.") from None
            aside = move_aside(self.db_path)
            log.warning("history: %s is damaged (%s); moved to %s", self.db_path, error, aside)
            self.notice = ("Seesay's history file was damaged, so a new, empty history was started; "
                           f"the old file was kept as {aside}.")
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=5)
        try:
            db.row_factory = sqlite3.Row
            db.create_function("fold", 1, lambda s: s.casefold() if s else "", deterministic=True)
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                log.warning("history: WAL mode unavailable for %s", self.db_path)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError("Your history was saved by a newer version of Seesay; "
                             "update Seesay to open it.")
        if version == 0:
            # One script, one transaction: a crash leaves either no tables or all of them.
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            # Later versions: `if version < 2: ...` steps here, each in its own transaction.

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self):
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except (sqlite3.Error, OSError) as error:
                raise StoreError(_save_failure(error)) from error

    # Conversations

    def create_conversation(self, title: str) -> Conversation:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)",
                                (title, now, now))
        return Conversation(cursor.lastrowid, title, now, now)

    def conversation(self, conversation_id: int) -> Conversation:
        with self._lock:
            row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise StoreError(f"Conversation {conversation_id} no longer exists.")
        return Conversation(row["id"], row["title"], row["created"], row["updated"])

    def list_conversations(self, search: str | None = None) -> list[Conversation]:
        """Newest first; ``search`` keeps those whose title or any message contains it (any case)."""
        query = "SELECT * FROM conversations"
        args: tuple = ()
        if search and search.strip():
            query += (" WHERE instr(fold(title), ?1) OR EXISTS (SELECT 1 FROM messages m"
                      " WHERE m.conversation_id = conversations.id AND instr(fold(m.text), ?1))")
            args = (search.strip().casefold(),)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY updated DESC, id DESC", args).fetchall()
        return [Conversation(r["id"], r["title"], r["created"], r["updated"]) for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        shutil.rmtree(self.attachments_root / str(conversation_id), ignore_errors=True)

    # Messages

    def add_message(self, conversation_id: int, role: str, text: str,
                    attachments: list[AttachmentInput] = ()) -> Message:
        """Save a finished message with its screenshots and voice clips (written as files)."""
        return self._insert(conversation_id, role, text, "complete", attachments)

    def begin_answer(self, conversation_id: int) -> int:
        """An empty assistant message marked "partial"; returns its id."""
        return self._insert(conversation_id, "assistant", "", "partial", ()).id

    def update_answer(self, message_id: int, text: str) -> None:
        """Save the text streamed so far (call it throttled, e.g. every half second)."""
        with self._transaction() as db:
            db.execute("UPDATE messages SET text = ? WHERE id = ?", (text, message_id))

    def finish_answer(self, message_id: int, text: str, status: Status = "complete",
                      stats: dict | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        with self._transaction() as db:
            db.execute("UPDATE messages SET text = ?, status = ?, stats = ? WHERE id = ?",
                       (text, status, json.dumps(stats or {}), message_id))
            db.execute("UPDATE conversations SET updated = ? WHERE id ="
                       " (SELECT conversation_id FROM messages WHERE id = ?)", (time.time(), message_id))

    def _insert(self, conversation_id, role, text, status, attachments) -> Message:
        encoded = [encode_attachment(item) for item in attachments]  # the slow part, outside the lock
        now = time.time()
        folder = self.attachments_root / str(conversation_id)
        written: list[Path] = []
        try:
            with self._transaction() as db:
                message_id = db.execute(
                    "INSERT INTO messages (conversation_id, role, text, status, created)"
                    " VALUES (?, ?, ?, ?, ?)", (conversation_id, role, text, status, now)).lastrowid
                saved = []
                for index, (kind, suffix, data, meta, thumbnail) in enumerate(encoded):
                    path = folder / f"{message_id}-{index}{suffix}"
                    write_file(path, data)
                    written.append(path)
                    if thumbnail is not None:
                        write_file(thumbnail_path(path), thumbnail)
                        written.append(thumbnail_path(path))
                    relative = path.relative_to(self.attachments_root).as_posix()
                    attachment_id = db.execute(
                        "INSERT INTO attachments (message_id, kind, path, width, height, seconds)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (message_id, kind, relative, meta.get("width"), meta.get("height"),
                         meta.get("seconds"))).lastrowid
                    saved.append(Attachment(attachment_id, kind, path, **meta))
                db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        except BaseException:
            delete_files(written)
            raise
        return Message(message_id, conversation_id, role, text, status, now, saved, {})

    def messages(self, conversation_id: int) -> list[Message]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id",
                                    (conversation_id,)).fetchall()
            files = self._db.execute(
                "SELECT a.* FROM attachments a JOIN messages m ON m.id = a.message_id"
                " WHERE m.conversation_id = ? ORDER BY a.id", (conversation_id,)).fetchall()
        by_message: dict[int, list[Attachment]] = {}
        for a in files:
            by_message.setdefault(a["message_id"], []).append(Attachment(
                a["id"], a["kind"], self.attachments_root / a["path"], a["width"], a["height"], a["seconds"]))
        return [Message(r["id"], r["conversation_id"], r["role"], r["text"], r["status"], r["created"],
                        by_message.get(r["id"], []), json.loads(r["stats"])) for r in rows]

    def delete_message_and_after(self, message_id: int) -> int:
        """Delete a message and every later one of its conversation (regenerate, edit and resend)."""
        with self._transaction() as db:
            row = db.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return 0
            doomed = "FROM messages WHERE conversation_id = ? AND id >= ?"
            args = (row["conversation_id"], message_id)
            files = db.execute(f"SELECT a.path FROM attachments a WHERE a.message_id IN (SELECT id {doomed})",
                               args).fetchall()
            count = db.execute(f"DELETE {doomed}", args).rowcount
        paths = [self.attachments_root / f["path"] for f in files]
        delete_files(paths + [thumbnail_path(p) for p in paths])
        return count

    def forget_images(self, conversation_id: int) -> int:
        """Delete a conversation's screenshot files, keeping the messages ("Keep screenshots" off).

        The history still lists each screenshot (its size), so the transcript and the model can say
        one was there; returns how many files were removed."""
        messages = self.messages(conversation_id)
        paths = [a.path for m in messages for a in m.attachments if a.kind == "image" and a.path.exists()]
        delete_files(paths + [thumbnail_path(p) for p in paths])
        return len(paths)

    def export_markdown(self, conversation_id: int, dest_dir: Path | str) -> Path:
        from app.store_export import export_markdown

        return export_markdown(self, conversation_id, Path(dest_dir))
