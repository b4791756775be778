"""A process killed while it writes history must leave every earlier message intact."""

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from app.store import HistoryStore

REPO = Path(__file__).resolve().parents[2]

_WRITER = """
import sys
import numpy as np
from PIL import Image
from app.store import HistoryStore

store = HistoryStore(sys.argv[1], sys.argv[2])
chat = store.create_conversation("crash test")
picture = Image.new("RGB", (320, 200), (10, 20, 30))
i = 0
while True:
    attachments = [picture, (np.zeros(1600, np.float32), 16000)] if i % 5 == 0 else []
    store.add_message(chat.id, "user", f"question {i} " + "x" * 2000, attachments)
    answer = store.begin_answer(chat.id)
    for n in range(1, 4):
        store.update_answer(answer, f"answer {i} part {n}")
    store.finish_answer(answer, f"answer {i}", "complete", {"i": i})
    print(i, flush=True)
    i += 1
"""

_STREAMER = """
import os, sys
from app.store import HistoryStore

store = HistoryStore(sys.argv[1], sys.argv[2])
chat = store.create_conversation("interrupted")
store.add_message(chat.id, "user", "tell me a story")
answer = store.begin_answer(chat.id)
store.update_answer(answer, "Once upon a")
os._exit(1)  # a crash in the middle of streaming: no finish_answer
"""


def _spawn(code: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "h.sqlite3"), str(tmp_path / "a")],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)


def test_sigkill_mid_write_keeps_earlier_history(tmp_path):
    writer = _spawn(_WRITER, tmp_path)
    last_done = -1
    for line in writer.stdout:
        last_done = int(line)
        if last_done >= 40:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert last_done >= 40

    raw = sqlite3.connect(tmp_path / "h.sqlite3")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    store = HistoryStore(tmp_path / "h.sqlite3", tmp_path / "a")
    try:
        assert store.notice is None
        [chat] = store.list_conversations()
        messages = store.messages(chat.id)
        for i in range(last_done + 1):
            question, answer = messages[2 * i], messages[2 * i + 1]
            assert question.text == f"question {i} " + "x" * 2000
            assert (answer.text, answer.status, answer.stats) == (f"answer {i}", "complete", {"i": i})
            for attachment in question.attachments:
                assert attachment.path.is_file()
        assert len([m for m in messages if m.attachments]) >= (last_done + 1) // 5
        store.add_message(chat.id, "user", "still writable")
    finally:
        store.close()


def test_answer_interrupted_by_a_crash_stays_visible_as_partial(tmp_path):
    assert _spawn(_STREAMER, tmp_path).wait() == 1
    store = HistoryStore(tmp_path / "h.sqlite3", tmp_path / "a")
    try:
        [chat] = store.list_conversations()
        question, answer = store.messages(chat.id)
        assert question.text == "tell me a story"
        assert (answer.role, answer.text, answer.status) == ("assistant", "Once upon a", "partial")
    finally:
        store.close()
