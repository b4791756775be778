"""Export one conversation as a Markdown file, with its screenshots and voice clips copied beside it.

``<dest>/<title>.md`` links to ``<dest>/<title>_files/``: images show inline, voice clips are links.
An existing export of the same name is never overwritten; the new one gets a number.
"""

import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

_ROLE_NAMES = {"user": "You", "assistant": "Seesay", "system": "System"}
_STATUS_NOTES = {
    "partial": "*(This answer was interrupted before it finished.)*",
    "cancelled": "*(Stopped before the answer finished.)*",
    "error": "*(The answer failed.)*",
}


def safe_stem(title: str, fallback: str) -> str:
    """A file name made from the title that is valid on Windows, macOS and Linux."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    stem = re.sub(r"\s+", " ", stem).strip(" .")[:80].rstrip(" .")
    return stem or fallback


def _free_stem(dest_dir: Path, stem: str) -> str:
    candidate, number = stem, 1
    while (dest_dir / f"{candidate}.md").exists() or (dest_dir / f"{candidate}_files").exists():
        number += 1
        candidate = f"{stem} ({number})"
    return candidate


def _link(folder: str, file_name: str) -> str:
    return quote(f"{folder}/{file_name}")


def export_markdown(store, conversation_id: int, dest_dir: Path) -> Path:
    """Write the conversation to ``dest_dir``; returns the Markdown file's path."""
    conversation = store.conversation(conversation_id)
    messages = store.messages(conversation_id)
    dest_dir.mkdir(parents=True, exist_ok=True)
    stem = _free_stem(dest_dir, safe_stem(conversation.title, f"conversation-{conversation_id}"))
    files_folder = f"{stem}_files"

    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(conversation.created))
    lines = [f"# {conversation.title}", "", f"*Seesay conversation, started {created}.*", ""]
    for message in messages:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(message.created))
        lines += [f"## {_ROLE_NAMES.get(message.role, message.role)} · {when}", ""]
        for attachment in message.attachments:
            if not attachment.path.is_file():
                lines += [f"*(missing {attachment.kind}: {attachment.path.name})*", ""]
                continue
            (dest_dir / files_folder).mkdir(exist_ok=True)
            shutil.copy2(attachment.path, dest_dir / files_folder / attachment.path.name)
            target = _link(files_folder, attachment.path.name)
            if attachment.kind == "image":
                lines += [f"![Screenshot, {attachment.width}×{attachment.height}]({target})", ""]
            else:
                lines += [f"[Voice clip, {attachment.seconds or 0:.1f} s]({target})", ""]
        if message.text:
            lines += [message.text, ""]
        if message.status in _STATUS_NOTES:
            lines += [_STATUS_NOTES[message.status], ""]
    path = dest_dir / f"{stem}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
