"""Draw Seesay's app icon (a speech bubble with an eye in it) into assets/icons/.

Writes seesay-<size>.png for 16..1024 px, seesay.ico (Windows, 16..256) and seesay.icns (macOS,
16..1024). Each size is drawn at 4x and scaled down, so small sizes stay crisp. Re-run after
changing the drawing and commit the results:  .venv/bin/python packaging/icons/make_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

OUT = Path(__file__).resolve().parents[2] / "assets" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
BUBBLE = (46, 112, 214)  # blue
BUBBLE_EDGE = (30, 80, 170)
WHITE = (255, 255, 255)
IRIS = (24, 38, 66)
GLINT = (255, 255, 255)


def draw(size: int) -> Image.Image:
    """The icon at ``size`` px, transparent outside the bubble."""
    s = size * 4  # supersample
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    u = s / 64  # drawing unit: the design is laid out on a 64 x 64 grid

    def box(x0, y0, x1, y1):
        return [x0 * u, y0 * u, x1 * u, y1 * u]

    # Bubble body with a tail at the lower left.
    d.rounded_rectangle(box(3, 5, 61, 49), radius=13 * u, fill=BUBBLE, outline=BUBBLE_EDGE, width=max(1, round(1.5 * u)))
    d.polygon([(14 * u, 44 * u), (12 * u, 59 * u), (28 * u, 46 * u)], fill=BUBBLE)
    # Eye: a white almond (the overlap of two big circles), iris, pupil, glint.
    upper, lower = Image.new("L", (s, s), 0), Image.new("L", (s, s), 0)
    ImageDraw.Draw(upper).ellipse(box(8, 17, 56, 65), fill=255)  # centre (32, 41), r 24
    ImageDraw.Draw(lower).ellipse(box(8, -11, 56, 37), fill=255)  # centre (32, 13), r 24
    almond = ImageChops.multiply(upper, lower)
    img.paste(Image.new("RGBA", (s, s), WHITE), (0, 0), almond)
    d.ellipse(box(23.5, 17.5, 40.5, 34.5), fill=(64, 150, 240))
    d.ellipse(box(27.5, 21.5, 36.5, 30.5), fill=IRIS)
    d.ellipse(box(32.5, 21.5, 36, 25), fill=GLINT)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    images = {size: draw(size) for size in SIZES}
    for size, img in images.items():
        img.save(OUT / f"seesay-{size}.png", optimize=True)
    images[256].save(OUT / "seesay.ico", sizes=[(n, n) for n in SIZES if n <= 256],
                     append_images=[images[n] for n in SIZES if n < 256])
    images[1024].save(OUT / "seesay.icns", append_images=[images[n] for n in SIZES if n < 1024])
    print(f"make_icons: wrote {len(SIZES)} PNGs, seesay.ico and seesay.icns to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
