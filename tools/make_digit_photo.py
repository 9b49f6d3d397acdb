"""Draw a photo-like handwritten digit (dark ink on off-white paper, noise, slight shading) with Pillow.

Usage: python tools/make_digit_photo.py DIGIT OUT.png [--size 400x300] [--seed 0] [--light-on-dark]
Used for the README showcase (docs/digit_photo_3.png) and the image-input tests.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Pen strokes per digit, as polylines in a unit box (x right, y down); a rough hand, not a font.
STROKES = {
    0: [[(0.5, 0.08), (0.22, 0.2), (0.15, 0.5), (0.22, 0.8), (0.5, 0.92), (0.78, 0.8), (0.85, 0.5), (0.78, 0.2),
         (0.5, 0.08)]],
    1: [[(0.35, 0.25), (0.55, 0.08), (0.55, 0.92)]],
    2: [[(0.2, 0.25), (0.35, 0.1), (0.6, 0.08), (0.78, 0.22), (0.75, 0.42), (0.2, 0.9), (0.82, 0.9)]],
    3: [[(0.2, 0.15), (0.5, 0.06), (0.78, 0.2), (0.72, 0.4), (0.45, 0.48), (0.75, 0.58), (0.8, 0.8), (0.5, 0.93),
         (0.18, 0.85)]],
    4: [[(0.65, 0.92), (0.65, 0.08), (0.15, 0.65), (0.88, 0.65)]],
    5: [[(0.8, 0.1), (0.3, 0.1), (0.25, 0.45), (0.6, 0.42), (0.8, 0.62), (0.7, 0.88), (0.4, 0.93), (0.2, 0.85)]],
    6: [[(0.7, 0.08), (0.35, 0.35), (0.22, 0.7), (0.4, 0.92), (0.7, 0.85), (0.75, 0.62), (0.5, 0.5), (0.25, 0.65)]],
    7: [[(0.15, 0.1), (0.85, 0.1), (0.45, 0.92)]],
    8: [[(0.5, 0.5), (0.25, 0.3), (0.5, 0.08), (0.75, 0.3), (0.5, 0.5), (0.2, 0.72), (0.5, 0.93), (0.8, 0.72),
         (0.5, 0.5)]],
    9: [[(0.75, 0.35), (0.5, 0.5), (0.25, 0.35), (0.45, 0.08), (0.75, 0.2), (0.75, 0.35), (0.7, 0.92)]],
}


def digit_photo(digit: int, width: int = 400, height: int = 300, seed: int = 0, light_on_dark: bool = False) -> Image.Image:
    """An RGB "photo" of a hand-drawn digit: ink ~ (40, 40, 55) on paper ~ (235, 230, 220) with noise."""
    rng = np.random.default_rng(seed)
    scale = 4  # draw big, then downsample (anti-aliased strokes)
    canvas = Image.new("L", (width * scale, height * scale), 0)
    draw = ImageDraw.Draw(canvas)
    box = 0.7 * height * scale
    left, top = (width * scale - box * 0.8) / 2 + 0.1 * width * scale * (rng.random() - 0.5), (height * scale - box) / 2
    for stroke in STROKES[digit]:
        points = [(left + x * box * 0.8 + rng.normal(0, 4 * scale), top + y * box + rng.normal(0, 4 * scale))
                  for x, y in stroke]
        draw.line(points, fill=255, width=int(0.11 * box), joint="curve")
    ink = np.asarray(canvas.resize((width, height), Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(1.2)),
                     dtype=np.float64) / 255
    shade = np.linspace(0.96, 1.03, width)[None, :] * np.linspace(1.02, 0.95, height)[:, None]
    paper = np.array([235.0, 230.0, 220.0]) * shade[..., None] + rng.normal(0, 6, (height, width, 1))
    pen = np.array([40.0, 40.0, 55.0])
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None]
    if light_on_dark:
        rgb = 255 - rgb
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("digit", type=int, choices=range(10))
    parser.add_argument("out")
    parser.add_argument("--size", default="400x300")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--light-on-dark", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    digit_photo(args.digit, width, height, args.seed, args.light_on_dark).save(args.out)


if __name__ == "__main__":
    main()
