"""Screenshots and voice clips cross to the engine's process once per object, not with every question.

A conversation's screenshots (2560x1440 RGB: 11 MB each) are part of every question asked in it,
and the app hands the engine the same image and sample objects again on a follow-up (app/turns.py
caches what it read from the history). So each object gets a token the first time it is sent;
later messages carry the token only, and the engine's process hands the engine the very object it
received the first time. The engine's per-object caches (the content digest behind KV-cache reuse,
``inference.engine._media_digest``) then work across the pipe as they did in one process.

The engine's process keeps the media of the latest question (or prefill) only: before each one,
the tokens it does not use are dropped on both sides. The app's caches keep up to 64 screenshots
alive; a copy of each beside a 12B model would cost up to 0.7 GB.

A screenshot's pixels go as a frame of their own, the image's raw bytes, after a small header:
pickling the image copied its 11 MB twice more while holding the GIL, 17 ms on an idle 2-core
machine and the window's longest stall (34-39 ms) while its model was busy (bench: gui).
"""

import io
import pickle
import sys
import weakref

from PIL import Image

PROTOCOL = pickle.HIGHEST_PROTOCOL
RAW_MODES = ("RGB", "RGBA", "L")  # modes whose raw bytes are the whole image (no palette)


def is_media(obj) -> bool:
    if isinstance(obj, Image.Image):
        return True
    numpy = sys.modules.get("numpy")  # no array exists before numpy is imported (the window defers it)
    return numpy is not None and isinstance(obj, numpy.ndarray)


class MediaSender:
    """The app's side: which of its objects the engine's process holds, by token."""

    def __init__(self):
        self._known: dict[int, tuple[weakref.ref, int]] = {}  # id(object) -> (the object, its token)
        self._gone: list[int] = []  # tokens of objects that died and whose id came back
        self._last = 0
        self.sent = 0  # objects sent in full (the tests count them)

    def encode(self, message) -> list[bytes]:
        """The frames to send for ``message``, in order: the tokens the engine's process can drop,
        each object it has not seen, then ``message`` itself with its media as tokens."""
        used: set[int] = set()
        new: list[tuple[int, object]] = []
        out = io.BytesIO()
        try:
            _TokenPickler(out, lambda obj: self._token(obj, used, new)).dump(message)
        except BaseException:
            for token, obj in new:  # not sent: not known on the other side either
                self._known.pop(id(obj), None)
            raise
        stale = [key for key, (_obj, token) in self._known.items() if token not in used]
        drop = self._gone + [self._known.pop(key)[1] for key in stale]
        self._gone = []
        frames = [pickle.dumps(("drop", drop), PROTOCOL)] if drop else []
        for token, obj in new:
            frames += _media_frames(token, obj)
        self.sent += len(new)
        return frames + [out.getvalue()]

    def _token(self, obj, used: set, new: list) -> int | None:
        if not is_media(obj):
            return None
        known = self._known.get(id(obj))
        if known is not None and known[0]() is obj:
            token = known[1]
        else:
            if known is not None:
                self._gone.append(known[1])
            try:
                ref = weakref.ref(obj)
            except TypeError:  # cannot be told apart later: goes in line, every time
                return None
            self._last += 1
            token = self._last
            self._known[id(obj)] = (ref, token)
            new.append((token, obj))
        used.add(token)
        return token


def _media_frames(token: int, obj) -> list[bytes]:
    if isinstance(obj, Image.Image) and obj.mode in RAW_MODES:
        return [pickle.dumps(("pixels", token, obj.mode, obj.size), PROTOCOL), obj.tobytes()]
    return [pickle.dumps(("media", token, obj), PROTOCOL)]


class MediaReceiver:
    """The engine's side: token -> the object received for it."""

    def __init__(self):
        self._objects: dict[int, object] = {}
        self._pixels_for = None  # (token, mode, size) of the image whose raw bytes come next

    def decode(self, frame: bytes):
        """The message in ``frame``; None for the frames that only carry or drop media."""
        if self._pixels_for is not None:
            token, mode, size = self._pixels_for
            self._pixels_for = None
            self._objects[token] = Image.frombytes(mode, size, frame)
            return None
        message = _TokenUnpickler(io.BytesIO(frame), self._objects).load()
        if message[0] == "pixels":
            self._pixels_for = message[1:]
            return None
        if message[0] == "media":
            self._objects[message[1]] = message[2]
            return None
        if message[0] == "drop":
            for token in message[1]:
                self._objects.pop(token, None)
            return None
        return message

    def __len__(self) -> int:
        return len(self._objects)


class _TokenPickler(pickle.Pickler):
    def __init__(self, file, token_for):
        super().__init__(file, PROTOCOL)
        self._token_for = token_for

    def persistent_id(self, obj):
        return self._token_for(obj)


class _TokenUnpickler(pickle.Unpickler):
    def __init__(self, file, objects: dict):
        super().__init__(file)
        self._objects = objects

    def persistent_load(self, token):
        try:
            return self._objects[token]
        except KeyError:
            raise pickle.UnpicklingError(f"media token {token} was never sent") from None
