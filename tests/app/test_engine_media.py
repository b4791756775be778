"""Screenshots and clips cross to the engine's process once per object (app/engine_media.py): the
sender's frames, decoded by a receiver, give back the very object it received the first time."""

import gc
import threading

import numpy as np
import pytest
from PIL import Image

from app.engine_media import MediaReceiver, MediaSender
from inference.conversation import AudioPart, ImagePart, Turn


def deliver(sender: MediaSender, receiver: MediaReceiver, message):
    decoded = [receiver.decode(frame) for frame in sender.encode(message)]
    assert decoded[:-1] == [None] * (len(decoded) - 1)  # only the last frame is a message
    return decoded[-1]


def test_an_object_sent_again_arrives_as_the_same_object_without_its_pixels():
    sender, receiver = MediaSender(), MediaReceiver()
    screenshot = Image.new("RGB", (640, 400), (10, 200, 30))
    clip = np.linspace(-1, 1, 16_000, dtype=np.float32)
    first = [Turn.user(ImagePart(screenshot), AudioPart(clip, 16_000), "What is this?")]
    frames = sender.encode(("ask", "r1", first))
    assert sum(len(f) for f in frames) > screenshot.width * screenshot.height * 3  # the pixels, once
    got = [receiver.decode(f) for f in frames][-1]
    image, audio = got[2][0].parts[0].image, got[2][0].parts[1].samples
    assert image.tobytes() == screenshot.tobytes() and np.array_equal(audio, clip)

    follow_up = first + [Turn.assistant("A green box."), Turn.user("And then?")]
    frames = sender.encode(("ask", "r2", follow_up))
    assert len(frames) == 1 and len(frames[0]) < 2_000  # tokens only
    again = receiver.decode(frames[0])
    assert again[2][0].parts[0].image is image and again[2][0].parts[1].samples is audio
    assert sender.sent == 2


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16"])
def test_an_image_of_any_mode_arrives_whole(mode):
    """RGB, RGBA and L go as raw bytes after a header; a palette image and others are pickled."""
    sender, receiver = MediaSender(), MediaReceiver()
    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, (37, 53, 3), dtype=np.uint8)).convert(mode)
    frames = sender.encode(("ask", "r1", [Turn.user(ImagePart(image), "?")]))
    assert len(frames) == (3 if mode in ("RGB", "RGBA", "L") else 2)
    got = [receiver.decode(f) for f in frames][-1][2][0].parts[0].image
    assert (got.mode, got.size, got.tobytes()) == (image.mode, image.size, image.tobytes())
    assert got.getpalette() == image.getpalette()


def test_media_the_next_message_does_not_use_are_dropped_on_both_sides():
    sender, receiver = MediaSender(), MediaReceiver()
    one, two = Image.new("RGB", (32, 32), "red"), Image.new("RGB", (32, 32), "blue")
    deliver(sender, receiver, ("prefill", [Turn.user(ImagePart(one))], 280))
    assert len(receiver) == 1
    deliver(sender, receiver, ("prefill", [Turn.user(ImagePart(two))], 280))
    assert len(receiver) == 1 and sender.sent == 2
    got = deliver(sender, receiver, ("ask", "r1", [Turn.user(ImagePart(two))], None))
    assert got[2][0].parts[0].image.getpixel((0, 0)) == (0, 0, 255) and sender.sent == 2


def test_an_object_that_died_is_never_mistaken_for_a_new_one_at_its_address():
    sender, receiver = MediaSender(), MediaReceiver()
    for colour in ("red", "green", "blue", "white"):  # each dies after its message: ids come back
        image = Image.new("RGB", (16, 16), colour)
        got = deliver(sender, receiver, ("ask", colour, [Turn.user(ImagePart(image))], None))
        assert got[2][0].parts[0].image.getpixel((0, 0)) == image.getpixel((0, 0))
        del image, got
        gc.collect()
    assert sender.sent == 4 and len(receiver) == 1


def test_a_message_that_cannot_be_pickled_leaves_nothing_half_known():
    sender, receiver = MediaSender(), MediaReceiver()
    image = Image.new("RGB", (16, 16), "red")
    with pytest.raises(TypeError):
        sender.encode(("ask", "r1", [Turn.user(ImagePart(image))], threading.Lock()))
    got = deliver(sender, receiver, ("ask", "r2", [Turn.user(ImagePart(image))], None))
    assert got[2][0].parts[0].image.getpixel((0, 0)) == (255, 0, 0) and sender.sent == 1
