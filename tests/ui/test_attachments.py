"""Attachment chips: what can be attached, thumbnails from images and files, removal."""

import pytest

from ui.attachments import AttachmentChip, PendingAttachment, attachable_files, square_thumbnail
from ui.qt import QtCore, QtGui, Qt


def test_attachable_files_keeps_local_images_and_audio_in_order():
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile("/tmp/b.flac"), QtCore.QUrl("https://example.com/a.png"),
                  QtCore.QUrl.fromLocalFile("/tmp/a.webp"), QtCore.QUrl.fromLocalFile("/tmp/c.docx")])
    assert attachable_files(mime) == ["/tmp/b.flac", "/tmp/a.webp"]
    assert attachable_files(QtCore.QMimeData()) == []


def test_kind_must_be_image_or_audio():
    with pytest.raises(ValueError):
        PendingAttachment("x", "video", "clip")


def _wide_image() -> QtGui.QImage:
    # Left third blue, middle green, right third red: a centre crop must be green.
    image = QtGui.QImage(300, 100, QtGui.QImage.Format.Format_RGB32)
    painter = QtGui.QPainter(image)
    for x0, colour in ((0, Qt.GlobalColor.blue), (100, Qt.GlobalColor.green), (200, Qt.GlobalColor.red)):
        painter.fillRect(x0, 0, 100, 100, colour)
    painter.end()
    return image


def test_square_thumbnail_crops_the_centre(tmp_path):
    thumb = square_thumbnail(_wide_image(), 40)
    assert (thumb.width(), thumb.height()) == (40, 40)
    assert thumb.pixelColor(20, 20).green() > 100 and thumb.pixelColor(20, 20).red() < 50
    path = tmp_path / "wide.png"
    assert _wide_image().save(str(path))
    from_file = square_thumbnail(path, 40)
    assert from_file.pixelColor(20, 20) == thumb.pixelColor(20, 20)


def test_square_thumbnail_of_nothing_or_garbage_is_none(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert square_thumbnail(None, 40) is None
    assert square_thumbnail(str(bad), 40) is None
    assert square_thumbnail(tmp_path / "missing.png", 40) is None


def test_chip_shows_label_and_removes_with_delete_key(qtbot):
    chip = AttachmentChip(PendingAttachment("id-7", "image", "Screenshot 1280×800", _wide_image()))
    qtbot.addWidget(chip)
    chip.show()
    assert chip.label.text() == "Screenshot 1280×800"
    assert chip.thumbnail.image is not None
    assert "Screenshot" in chip.remove_button.accessibleName()
    with qtbot.waitSignal(chip.removeRequested) as removed:
        qtbot.keyClick(chip.remove_button, Qt.Key.Key_Delete)
    assert removed.args == ["id-7"]


def test_audio_chip_and_unremovable_chip(qtbot):
    chip = AttachmentChip(PendingAttachment("v", "audio", "Voice 0:07"), removable=False)
    qtbot.addWidget(chip)
    assert chip.thumbnail.image is None and chip.remove_button is None
