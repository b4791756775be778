"""Markdown export: text, inline screenshots and linked voice clips copied beside the file."""

import numpy as np
import pytest
from PIL import Image

from app.store import HistoryStore
from app.store_export import safe_stem


@pytest.fixture
def store(tmp_path):
    history = HistoryStore(tmp_path / "h.sqlite3", tmp_path / "attachments")
    yield history
    history.close()


def test_export_writes_markdown_with_copied_files(store, tmp_path):
    chat = store.create_conversation("What's on: my/screen?")
    store.add_message(chat.id, "user", "Explain this error",
                      [Image.new("RGB", (30, 20), "blue"), (np.zeros(8000, np.float32), 16000)])
    store.finish_answer(store.begin_answer(chat.id), "It means **X**.", "complete")
    store.finish_answer(store.begin_answer(chat.id), "Half an ans", "cancelled")

    path = store.export_markdown(chat.id, tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert path.parent == tmp_path / "out" and path.suffix == ".md"
    assert "/" not in path.stem and ":" not in path.stem and "?" not in path.stem
    assert text.startswith("# What's on: my/screen?")
    assert "Explain this error" in text and "It means **X**." in text and "Half an ans" in text
    assert "Stopped before the answer finished" in text
    folder = path.with_name(f"{path.stem}_files")
    copied = sorted(p.suffix for p in folder.iterdir())
    assert copied == [".flac", ".png"]
    assert "![Screenshot, 30×20](" in text and "[Voice clip, 0.5 s](" in text
    for name in (p.name for p in folder.iterdir()):
        assert f"_files/{name})" in text


def test_second_export_does_not_overwrite_the_first(store, tmp_path):
    chat = store.create_conversation("Same")
    store.add_message(chat.id, "user", "first")
    first = store.export_markdown(chat.id, tmp_path)
    store.add_message(chat.id, "user", "second")
    second = store.export_markdown(chat.id, tmp_path)
    assert first != second
    assert "second" not in first.read_text(encoding="utf-8")
    assert "second" in second.read_text(encoding="utf-8")


@pytest.mark.parametrize("title, expected", [
    ("plain", "plain"), ('a<b>c:"d"/e\\f|g?h*', "a b c d e f g h"), ("  ...  ", "fallback"),
    ("x" * 200, "x" * 80), ("tab\tand\nnewline", "tab and newline"),
])
def test_safe_stem(title, expected):
    assert safe_stem(title, "fallback") == expected
