"""History store: conversations, messages with files, streaming answers, search, deletes, versions."""

import sqlite3
import threading

import numpy as np
import pytest
import soundfile
from PIL import Image

from app import paths
from app.store import HistoryStore, StoreError
from app.store_files import load_audio, load_image
from inference.conversation import AudioPart, ImagePart


@pytest.fixture
def store(tmp_path):
    history = HistoryStore(tmp_path / "history.sqlite3", tmp_path / "attachments")
    yield history
    history.close()


def test_default_location_is_the_data_dir():
    history = HistoryStore()
    try:
        assert history.db_path == paths.history_db_path() and history.db_path.is_file()
        assert history.attachments_root == paths.attachments_dir()
    finally:
        history.close()


def test_database_uses_wal_foreign_keys_and_a_schema_version(store):
    db = sqlite3.connect(store.db_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_messages_keep_text_images_and_audio(store):
    chat = store.create_conversation("Screen question")
    picture = Image.new("RGB", (64, 40), (200, 40, 90))
    tone = (0.5 * np.sin(np.linspace(0, 200, 8000))).astype(np.float32)
    sent = store.add_message(chat.id, "user", "what is this?", [picture, (tone, 16000)])
    [message] = store.messages(chat.id)
    assert message == sent
    assert (message.role, message.text, message.status) == ("user", "what is this?", "complete")
    image, audio = message.attachments
    assert (image.kind, image.width, image.height) == ("image", 64, 40)
    assert image.path.suffix == ".png" and image.path.parent == store.attachments_root / str(chat.id)
    assert load_image(image.path).getpixel((10, 10)) == (200, 40, 90)
    assert audio.kind == "audio" and audio.seconds == pytest.approx(0.5)
    assert soundfile.info(audio.path).format == "FLAC"
    samples, rate = load_audio(audio.path)
    assert rate == 16000 and np.max(np.abs(samples - tone)) < 1e-3


def test_an_image_gets_a_small_copy_for_the_transcript_that_is_deleted_with_it(store):
    chat = store.create_conversation("thumbnail")
    screenshot = Image.new("RGB", (2560, 1440), (30, 120, 200))
    message = store.add_message(chat.id, "user", "", [screenshot, (np.zeros(1600, np.float32), 16000)])
    image, audio = message.attachments
    assert store.messages(chat.id)[0].attachments[0].thumbnail == image.thumbnail
    with Image.open(image.thumbnail) as small:
        assert small.size == (400, 225) and small.convert("RGB").getpixel((200, 100)) == (30, 120, 200)
    assert audio.thumbnail is None
    store.delete_message_and_after(message.id)
    assert not image.path.exists() and not image.thumbnail.exists()


def test_engine_parts_are_accepted_as_attachments(store):
    chat = store.create_conversation("parts")
    store.add_message(chat.id, "user", "", [ImagePart(Image.new("L", (8, 8))),
                                            AudioPart(np.zeros((4410, 2), np.float32), 44100)])
    image, audio = store.messages(chat.id)[0].attachments
    assert image.kind == "image" and audio.seconds == pytest.approx(0.1)


def test_streamed_answer_goes_from_partial_to_complete(store):
    chat = store.create_conversation("stream")
    store.add_message(chat.id, "user", "hi")
    answer = store.begin_answer(chat.id)
    assert store.messages(chat.id)[-1].status == "partial"
    store.update_answer(answer, "Hel")
    assert store.messages(chat.id)[-1].text == "Hel"
    store.finish_answer(answer, "Hello!", "complete", {"tokens_per_second": 12.5, "tokens": 3})
    last = store.messages(chat.id)[-1]
    assert (last.role, last.text, last.status) == ("assistant", "Hello!", "complete")
    assert last.stats == {"tokens_per_second": 12.5, "tokens": 3}
    with pytest.raises(ValueError):
        store.finish_answer(answer, "x", "done")


def test_conversations_list_newest_first_and_search_titles_and_text(store):
    first = store.create_conversation("Kochrezepte")
    second = store.create_conversation("Python error")
    store.add_message(first.id, "user", "Wie koche ich GRÜNKOHL?")
    assert [c.id for c in store.list_conversations()] == [first.id, second.id]  # first was updated last
    assert [c.id for c in store.list_conversations("grünkohl")] == [first.id]
    assert [c.id for c in store.list_conversations("ERROR")] == [second.id]
    assert [c.id for c in store.list_conversations("  ")] == [first.id, second.id]
    assert store.list_conversations("100%_") == []


def test_rename_and_delete_conversation_removes_its_files(store):
    chat = store.create_conversation("old")
    store.add_message(chat.id, "user", "look", [Image.new("RGB", (4, 4))])
    folder = store.messages(chat.id)[0].attachments[0].path.parent
    store.rename_conversation(chat.id, "new")
    assert store.conversation(chat.id).title == "new"
    store.delete_conversation(chat.id)
    assert store.list_conversations() == []
    assert not folder.exists()
    assert store._db.execute("SELECT count(*) FROM attachments").fetchone()[0] == 0
    with pytest.raises(StoreError):
        store.conversation(chat.id)


def test_delete_message_and_after_keeps_earlier_messages(store):
    chat = store.create_conversation("regenerate")
    other = store.create_conversation("other")
    keep = store.add_message(chat.id, "user", "one")
    store.add_message(other.id, "user", "elsewhere")
    edit = store.add_message(chat.id, "user", "two", [Image.new("RGB", (4, 4))])
    store.finish_answer(store.begin_answer(chat.id), "answer", "complete")
    assert store.delete_message_and_after(edit.id) == 2
    assert [m.id for m in store.messages(chat.id)] == [keep.id]
    assert not edit.attachments[0].path.exists()
    assert len(store.messages(other.id)) == 1
    assert store.delete_message_and_after(edit.id) == 0
    assert store.add_message(chat.id, "user", "two again").id > edit.id  # ids are never reused


def test_failed_attachment_leaves_no_message_and_no_file(store):
    chat = store.create_conversation("bad")
    with pytest.raises(ValueError):
        store.add_message(chat.id, "user", "x", [Image.new("RGB", (4, 4)), (np.zeros(10), 0)])
    with pytest.raises(Exception):  # libsndfile refuses this rate only once it opens the file
        store.add_message(chat.id, "user", "x", [Image.new("RGB", (4, 4)), (np.zeros(10), 1_000_000)])
    assert store.messages(chat.id) == []
    assert list((store.attachments_root / str(chat.id)).glob("*")) == []  # encoded first: nothing written


def test_message_for_a_deleted_conversation_is_refused(store):
    chat = store.create_conversation("gone")
    store.delete_conversation(chat.id)
    with pytest.raises(StoreError):
        store.add_message(chat.id, "user", "late")


def test_threads_can_write_at_the_same_time(store):
    chat = store.create_conversation("threads")

    def write(name):
        for i in range(25):
            store.add_message(chat.id, "user", f"{name}-{i}")

    workers = [threading.Thread(target=write, args=(n,)) for n in "abcd"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    texts = {m.text for m in store.messages(chat.id)}
    assert texts == {f"{n}-{i}" for n in "abcd" for i in range(25)}


def test_damaged_database_is_kept_aside_and_a_new_one_started(tmp_path):
    db = tmp_path / "history.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    history = HistoryStore(db, tmp_path / "attachments")
    try:
        [aside] = tmp_path.glob("history.sqlite3.corrupt-*")
        assert aside.read_bytes().startswith(b"this is not")
        assert history.notice and str(aside) in history.notice
        history.create_conversation("fresh start")
        assert len(history.list_conversations()) == 1
    finally:
        history.close()


def test_history_from_a_newer_version_is_refused_not_damaged(tmp_path):
    db = tmp_path / "history.sqlite3"
    HistoryStore(db, tmp_path / "a").close()
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer version"):
        HistoryStore(db, tmp_path / "a")
    assert db.is_file() and not list(tmp_path.glob("*.corrupt-*"))
