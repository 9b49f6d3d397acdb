"""Image folders as datasets: one sub-folder per class (torchvision's ``ImageFolder`` layout).

``photos/cat/1.png, photos/dog/7.jpg, ...``: the classes are the sub-folder names in sorted order
(label k = the k-th name), the samples every PNG, JPEG, BMP or TIFF file in them (sorted by name;
other files and hidden files are skipped). Images are decoded by :func:`lrp_studio.io.images.read_image`
(the same hostile-file checks as ``--input``), kept grey when every file is grey and converted to
RGB otherwise, and scaled from 0..255 to [0, 1]. All images must have one size, unless a size is
given (``FOLDER@WxH``): each is then fitted into W x H with Lanczos, aspect ratio kept, padded with
its border colour (the ``"pad"`` framing of :func:`lrp_studio.io.images.image_to_input`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lrp_studio.data.dataset import Dataset
from lrp_studio.errors import DataError
from lrp_studio.io.images import image_header, image_to_input, is_image_file, read_image

__all__ = ["MAX_FOLDER_VALUES", "load_image_folder", "split_size_spec"]

#: Refuse folders whose decoded images would hold more float32 values than this (1 GiB).
MAX_FOLDER_VALUES = 2**28

_SIZE = re.compile(r"^(?P<path>.+)@(?P<w>\d+)x(?P<h>\d+)$")


def split_size_spec(spec: str) -> tuple[str, tuple[int, int] | None]:
    """``"photos@32x24"`` -> ``("photos", (32, 24))`` (width, height); ``"photos"`` -> ``("photos", None)``."""
    match = _SIZE.match(spec)
    if not match:
        return spec, None
    return match["path"], (int(match["w"]), int(match["h"]))


def _class_files(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: an image folder needs one sub-folder per class (e.g. {root}/cat/1.png)")
    files = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).iterdir() if p.is_file() and not p.name.startswith(".")
                       and is_image_file(p))
        if not found:
            raise DataError(f"{root / name}: class folder holds no PNG, JPEG, BMP or TIFF images")
        files.extend((path, label) for path in found)
    return classes, files


def load_image_folder(spec: str) -> Dataset:
    """Load ``FOLDER`` or ``FOLDER@WxH`` (see the module docstring).

    Returns
    -------
    Dataset
        ``x`` (N, C, H, W) float32 in [0, 1] (C = 1 when every image is grey, else 3), labels from
        the sub-folders, input range (0, 1).

    Raises
    ------
    DataError
        Not a folder, no class folders or an empty one, a bad image (naming it), images of
        different sizes without ``@WxH`` (naming two), or more than :data:`MAX_FOLDER_VALUES` values.
    """
    path_text, size = split_size_spec(spec)
    root = Path(path_text)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if size is not None and min(size) < 1:
        raise DataError(f"{spec}: the size must be positive, e.g. {root}@32x32")
    classes, files = _class_files(root)
    headers = [image_header(path) for path, _ in files]  # sizes and modes, nothing decoded yet
    channels = 1 if all(grey for _, _, grey in headers) else 3
    if size is None:
        first = headers[0][:2]
        other = next((i for i, h in enumerate(headers) if h[:2] != first), None)
        if other is not None:
            raise DataError(f"{root}: images of different sizes ({files[0][0].name} {first[0]}x{first[1]}, "
                            f"{files[other][0].name} {headers[other][0]}x{headers[other][1]}); "
                            f"give a size, e.g. {root}@32x32")
        size = first
    width, height = size
    if len(files) * channels * width * height > MAX_FOLDER_VALUES:
        raise DataError(f"{root}: {len(files):,} images of {width}x{height} exceed the limit of "
                        f"{MAX_FOLDER_VALUES:,} values")
    x = np.empty((len(files), channels, height, width), dtype=np.float32)
    for i, (path, _) in enumerate(files):
        image = read_image(path, "L" if channels == 1 else "RGB")
        if image.shape[:2] == (height, width):
            x[i] = (image[None] if channels == 1 else np.moveaxis(image, -1, 0)) / np.float32(255)
        else:
            x[i] = image_to_input(image, (channels, height, width), (0.0, 1.0), polarity="keep", framing="pad").x[0]
    labels = np.array([label for _, label in files], dtype=np.int64)
    return Dataset(root.name or str(root), x, labels, classes, (0.0, 1.0))
