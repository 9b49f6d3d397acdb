"""Image files as model inputs: PNG, JPEG, BMP and TIFF decoded with Pillow, checked as hostile files.

:func:`read_image` decodes one file into an 8-bit array after checking its header: only the four
formats above are opened (Pillow's plug-ins for other formats, e.g. EPS through Ghostscript, are
never reached), images over :data:`MAX_IMAGE_PIXELS` pixels are refused before any pixel is decoded
(Pillow's ``DecompressionBombWarning`` is an error here), and truncated or damaged files become one
:class:`~lrp_studio.errors.DataError` line naming the file.

:func:`image_to_input` converts a decoded image to a model input (C, H, W):

- colour mode: ITU-R 601-2 luma (Pillow's ``"L"``) for one-channel models, ``"RGB"`` for three;
- polarity (one-channel models only): MNIST is light ink on a dark background; an image whose
  border is brighter than mid-grey (dark ink on paper) is inverted, and the returned notes say so;
- size: ``"digit"`` framing (one-channel models, the default there) sets the paper to black and
  stretches the ink to full intensity, crops the ink's bounding box,
  resizes it with Lanczos to fit a box of 20/28 of the frame keeping the aspect ratio, and pastes
  it so that its centre of mass sits at the frame's centre - the way MNIST was made (LeCun et al.
  1998: 20x20 box in a 28x28 frame, centred by centre of mass); ``"pad"`` framing (the default for
  colour models) resizes the whole image with Lanczos to fit the frame keeping the aspect ratio and
  pads the rest with the background value (letterbox);
- value range: 0..255 maps linearly onto the model's ``input_range`` (default [0, 1]).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lrp_studio.errors import DataError
from lrp_studio.io.atomic import PathLike, describe_os_error

__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "ImageInput", "image_header", "image_to_input", "is_image_file",
           "load_input_image", "read_image"]

#: Largest image accepted, in pixels (width x height), checked from the header before decoding:
#: 40 megapixels, i.e. at most 120 MB of RGB pixels are ever allocated for one decoded image.
MAX_IMAGE_PIXELS = 40_000_000

#: The Pillow formats that are opened; any other file is refused unread.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")

#: File name endings recognised as images (``--input``, drag and drop, image folders).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: Share of the frame the ink's longer side fills in ``"digit"`` framing (MNIST: 20 of 28 pixels).
DIGIT_BOX = 20 / 28

#: In ``"digit"`` framing, levels below this share of the ink's peak (above the paper) become black.
PAPER_LEVEL = 0.2

_FRAMINGS = ("auto", "digit", "pad")
_POLARITIES = ("auto", "invert", "keep")


def is_image_file(path: PathLike) -> bool:
    """Whether ``path``'s name ends in one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return Path(os.fspath(path)).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: PathLike, mode: str = "RGB", max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file into an 8-bit array, refusing hostile files with one line.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, BMP or TIFF file.
    mode : {"RGB", "L"}
        Convert to RGB or to grey (ITU-R 601-2 luma); transparency is composited onto white.
    max_pixels : int
        Images with more pixels (width x height, read from the header) are refused before decoding.

    Returns
    -------
    numpy.ndarray, uint8
        (H, W, 3) for ``"RGB"``, (H, W) for ``"L"``.

    Raises
    ------
    DataError
        Naming the file: missing, a directory, not one of the four formats, over ``max_pixels``
        (a decompression bomb included), truncated or otherwise undecodable.
    """
    from PIL import Image, UnidentifiedImageError

    target = Path(os.fspath(path))
    if target.is_dir():
        raise DataError(f"{target}: is a directory, not an image file")
    if not target.exists():
        raise DataError(f"{target}: file not found")
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels  # Pillow checks it in Image.open
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(target, formats=list(IMAGE_FORMATS)) as image:
                image.load()  # Image.open read only the header and checked width x height against the limit
                return np.asarray(_converted(image, mode))
        except UnidentifiedImageError:
            raise DataError(f"{target}: not a PNG, JPEG, BMP or TIFF image (other files are never opened)") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise DataError(f"{target}: refused as a possible decompression bomb: more than {max_pixels:,} "
                            "pixels (refused before decoding)") from None
        except OSError as error:
            raise DataError(f"{target}: damaged or truncated image ({describe_os_error(error)})") from None
        except (ValueError, SyntaxError, EOFError, MemoryError) as error:  # Pillow's parsers raise these too
            raise DataError(f"{target}: damaged image ({type(error).__name__}: {str(error)[:120]})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def image_header(path: PathLike) -> tuple[int, int, bool]:
    """(width, height, is grey) of an image file from its header only (nothing decoded).

    Raises
    ------
    DataError
        As :func:`read_image` for files that are not one of the four formats.
    """
    from PIL import Image, UnidentifiedImageError

    target = Path(os.fspath(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # read_image refuses it when decoding
            with Image.open(target, formats=list(IMAGE_FORMATS)) as image:
                return image.size[0], image.size[1], image.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "F")
    except UnidentifiedImageError:
        raise DataError(f"{target}: not a PNG, JPEG, BMP or TIFF image (other files are never opened)") from None
    except Image.DecompressionBombError:
        raise DataError(f"{target}: refused as a possible decompression bomb") from None
    except OSError as error:
        raise DataError(f"{target}: cannot read the image ({describe_os_error(error)})") from None


def _converted(image: "object", mode: str) -> "object":
    """``image`` in ``mode`` ("RGB" or "L"), transparent parts composited onto white."""
    from PIL import Image

    if mode not in ("RGB", "L"):
        raise DataError(f"image mode must be 'RGB' or 'L', got {mode!r}")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    if image.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit or float TIFF/PNG: scale to 8 bits by its own range
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        image = Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    return image.convert(mode)


@dataclass
class ImageInput:
    """A model input made from an image file.

    Attributes
    ----------
    x : numpy.ndarray, float32, (1, C, H, W)
        The sample, in the model's input range.
    notes : list of str
        What the conversion did that the user should know (inversion, resize), one line each.
    """

    x: np.ndarray
    notes: list[str] = field(default_factory=list)


def _border_level(grey: np.ndarray) -> float:
    """Median of the outermost rows and columns of a grey image (0..255): its background level."""
    edge = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(edge))


def _fit_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The size (w, h) of a ``width`` x ``height`` image scaled to fit ``box_w`` x ``box_h``, aspect kept."""
    scale = min(box_w / width, box_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _frame_digit(ink: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """MNIST framing of a grey image with light ink on black (0..255 floats) -> (out_h, out_w) floats.

    Subtracts the background (the border's median), sets everything below ``PAPER_LEVEL`` of the
    ink's peak to black (paper shading and noise; MNIST's background is exactly 0) and stretches the
    rest to 0..255, crops the ink's bounding box (pixels whose 3x3 median is above 1/4 of the peak), resizes it with Lanczos to fit
    ``DIGIT_BOX`` of the frame keeping the aspect ratio, and places it so that its centre of mass
    lands on the frame's centre (clipped so that the box stays inside the frame).
    """
    from PIL import Image

    from PIL import ImageFilter

    ink = np.clip(ink - _border_level(ink), 0, None)
    smooth = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").filter(ImageFilter.MedianFilter(3)))
    peak = float(smooth.max())  # the 3x3 median drops isolated paper noise from the peak and the box
    if peak <= 0:
        return np.zeros((out_h, out_w), dtype=np.float64)
    ink = np.clip((ink - PAPER_LEVEL * peak) / ((1 - PAPER_LEVEL) * peak), 0, 1) * 255.0
    rows, cols = np.nonzero(smooth > peak / 4)
    crop = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    w, h = _fit_size(crop.shape[1], crop.shape[0], max(1, round(out_w * DIGIT_BOX)), max(1, round(out_h * DIGIT_BOX)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize((w, h), Image.Resampling.LANCZOS),
                       dtype=np.float64).clip(0, 255)
    total = small.sum()
    cy = (small.sum(axis=1) @ np.arange(h)) / total if total > 0 else (h - 1) / 2
    cx = (small.sum(axis=0) @ np.arange(w)) / total if total > 0 else (w - 1) / 2
    top = int(np.clip(round((out_h - 1) / 2 - cy), 0, out_h - h))
    left = int(np.clip(round((out_w - 1) / 2 - cx), 0, out_w - w))
    frame = np.zeros((out_h, out_w), dtype=np.float64)
    frame[top: top + h, left: left + w] = small
    return frame


def _frame_pad(image: np.ndarray, out_h: int, out_w: int, background: np.ndarray) -> np.ndarray:
    """Letterbox: resize (Lanczos, aspect kept) to fit (out_h, out_w), pad with ``background``; (out_h, out_w, C)."""
    from PIL import Image

    height, width = image.shape[:2]
    w, h = _fit_size(width, height, out_w, out_h)
    channels = [np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F")
                           .resize((w, h), Image.Resampling.LANCZOS), dtype=np.float64).clip(0, 255)
                for c in range(image.shape[2])]
    frame = np.broadcast_to(background, (out_h, out_w, image.shape[2])).astype(np.float64)
    top, left = (out_h - h) // 2, (out_w - w) // 2
    frame[top: top + h, left: left + w] = np.stack(channels, axis=-1)
    return frame


def image_to_input(pixels: np.ndarray, input_shape: Sequence[int], input_range: tuple[float, float] | None = None,
                   polarity: str = "auto", framing: str = "auto") -> ImageInput:
    """Convert a decoded 8-bit image into one model input (see the module docstring for each step).

    Parameters
    ----------
    pixels : numpy.ndarray, uint8
        (H, W) grey or (H, W, 3) RGB, as :func:`read_image` returns.
    input_shape : sequence of int
        The model's per-sample shape: (1, H, W) or (3, H, W).
    input_range : (low, high), optional
        The model's value range; 0..255 maps onto it linearly (default (0, 1)).
    polarity : {"auto", "invert", "keep"}
        ``"auto"`` inverts a one-channel image whose border median is above 127.5 (dark on light);
        colour images are never inverted by ``"auto"``.
    framing : {"auto", "digit", "pad"}
        ``"auto"``: ``"digit"`` for one-channel models, ``"pad"`` for colour models.

    Returns
    -------
    ImageInput
        ``x`` (1, C, H, W) float32 and the notes.

    Raises
    ------
    DataError
        When the model does not take (1|3, H, W) images, or an option is unknown.
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DataError(f"an image cannot be an input of a model with input shape {shape} "
                        "(expected 1 or 3 channels, height and width)")
    if polarity not in _POLARITIES or framing not in _FRAMINGS:
        raise DataError(f"polarity must be one of {_POLARITIES} and framing one of {_FRAMINGS}, "
                        f"got {polarity!r} / {framing!r}")
    channels, out_h, out_w = shape
    image = np.asarray(pixels, dtype=np.float64)
    if channels == 1 and image.ndim == 3:
        image = image @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2 luma, as Pillow's "L"
    elif channels == 3 and image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    notes = [f"image {image.shape[1]}x{image.shape[0]} -> model input {out_w}x{out_h} ({channels} channel"
             f"{'s' if channels > 1 else ''})"]
    invert = polarity == "invert"
    if polarity == "auto" and channels == 1:
        level = _border_level(image)
        invert = level > 127.5
        if invert:
            notes.append(f"inverted: dark ink on a light background (border median {level:.0f} of 255), "
                         "the model expects light ink on dark (--polarity keep to turn off)")
    if invert:
        image = 255.0 - image
    mode = framing if framing != "auto" else ("digit" if channels == 1 else "pad")
    if mode == "digit":
        grey = image if image.ndim == 2 else image.mean(axis=-1)
        framed = _frame_digit(grey, out_h, out_w)[None]
        if channels == 3:
            framed = np.repeat(framed, 3, axis=0)
        notes.append("framed like MNIST: ink box fitted into 20/28 of the frame (Lanczos), centred by centre of mass")
    else:
        rgb = image[..., None] if image.ndim == 2 else image
        background = np.median(np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]), axis=0)
        framed = _frame_pad(rgb, out_h, out_w, background).transpose(2, 0, 1)
        if channels == 1:
            framed = framed[:1]
        notes.append("resized with Lanczos keeping the aspect ratio, padded with the border colour")
    low, high = input_range if input_range is not None else (0.0, 1.0)
    x = (low + framed / 255.0 * (high - low)).astype(np.float32)
    return ImageInput(x[None], notes)


def load_input_image(path: PathLike, input_shape: Sequence[int], input_range: tuple[float, float] | None = None,
                     polarity: str = "auto", framing: str = "auto") -> ImageInput:
    """:func:`read_image` then :func:`image_to_input` (``--input FILE.png``); errors name the file."""
    target = Path(os.fspath(path))
    channels = int(input_shape[0]) if len(input_shape) == 3 else 1
    pixels = read_image(target, "L" if channels == 1 else "RGB")
    if min(pixels.shape[:2]) < 1 or math.prod(pixels.shape[:2]) == 0:
        raise DataError(f"{target}: empty image")
    try:
        return image_to_input(pixels, input_shape, input_range, polarity, framing)
    except DataError as error:
        raise DataError(f"{target}: {error}") from None
