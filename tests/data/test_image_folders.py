"""Image folders (one sub-folder per class) and toy:shapes as datasets."""

import numpy as np
import pytest
from PIL import Image

from lrp_studio.data import load_dataset
from lrp_studio.data.shapes import SHAPE_CLASSES, make_shapes, shape_mask
from lrp_studio.errors import DataError


def _folder(root, sizes, mode="RGB"):
    rng = np.random.default_rng(0)
    for name, size in sizes.items():
        cls, file = name.split("/")
        (root / cls).mkdir(parents=True, exist_ok=True)
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(root / cls / file)
    return root


def test_folder_classes_labels_and_values(tmp_path):
    root = _folder(tmp_path / "pets", {"dog/a.png": (8, 6), "cat/b.png": (8, 6), "cat/a.bmp": (8, 6)})
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    data = load_dataset(str(root))
    assert data.classes == ["cat", "dog"] and data.y.tolist() == [0, 0, 1]  # cat/a.bmp, cat/b.png, dog/a.png
    assert data.x.shape == (3, 3, 6, 8) and data.input_range == (0.0, 1.0)
    expected = np.asarray(Image.open(root / "cat" / "b.png"), dtype=np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(data.x[1], expected)


def test_grey_folders_stay_one_channel(tmp_path):
    root = _folder(tmp_path / "digits", {"0/a.png": (5, 5), "1/b.png": (5, 5)}, mode="L")
    data = load_dataset(str(root))
    assert data.x.shape == (2, 1, 5, 5)
    np.testing.assert_allclose(data.x[0, 0], np.asarray(Image.open(root / "0" / "a.png")) / 255, atol=1e-7)


def test_mixed_sizes_need_a_size(tmp_path):
    root = _folder(tmp_path / "mixed", {"a/1.png": (8, 6), "b/2.png": (10, 10)})
    with pytest.raises(DataError, match=r"different sizes \(1.png 8x6, 2.png 10x10\); give a size, e\.g\. .*@32x32"):
        load_dataset(str(root))
    data = load_dataset(f"{root}@12x9")
    assert data.x.shape == (2, 3, 9, 12)


@pytest.mark.parametrize("layout, message", [({}, "one sub-folder per class"), ({"a/": None}, "holds no PNG")])
def test_bad_folders_are_one_line_errors(tmp_path, layout, message):
    root = tmp_path / "bad"
    root.mkdir()
    for name in layout:
        (root / name).mkdir()
    with pytest.raises(DataError, match=message) as error:
        load_dataset(str(root))
    assert "\n" not in str(error.value)


def test_a_broken_image_in_a_folder_is_named(tmp_path):
    root = _folder(tmp_path / "f", {"a/1.png": (4, 4), "b/2.png": (4, 4)})
    (root / "b" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match="3.png"):
        load_dataset(str(root))


def test_shapes_are_seeded_balanced_and_masked():
    a, b = make_shapes(40, seed=5), make_shapes(40, seed=5)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.classes == SHAPE_CLASSES and np.bincount(a.y).tolist() == [10, 10, 10, 10]
    assert a.x.shape == (40, 3, 32, 32) and a.masks.shape == (40, 32, 32)
    assert 0.0 <= a.x.min() and a.x.max() <= 1.0
    for image, mask in zip(a.x, a.masks):
        assert mask.sum() >= 20
        inside = image[:, mask].std(axis=1)
        assert (inside < 0.1).all()  # one flat colour plus pixel noise (sd 0.06) inside the mask
    subset = a.subset([3, 1])
    np.testing.assert_array_equal(subset.masks, a.masks[[3, 1]])


def test_shape_masks_by_hand():
    circle = shape_mask(0, 10, 10, 3, side=21)
    assert circle.sum() == 29  # the lattice points with dy^2 + dx^2 <= 9
    square = shape_mask(1, 10, 10, 5, side=21)
    assert square.sum() == 81  # |d| <= 4: 9 x 9
    cross = shape_mask(3, 10, 10, 5, side=21)
    assert cross.sum() == 11 * 3 * 2 - 9  # two 11x3 bars (|d| <= 1.5 -> 3 rows) sharing a 3x3 centre


def test_toy_shapes_specs():
    test = load_dataset("toy:shapes:test")
    assert test.name == "toy:shapes:test" and len(test) == 500 and test.masks is not None
    with pytest.raises(DataError, match="unknown split"):
        load_dataset("toy:shapes:val")


def test_a_size_that_does_not_parse_is_named(tmp_path):
    from lrp_studio.data import load_dataset
    from lrp_studio.errors import DataError

    (tmp_path / "photos").mkdir()
    with pytest.raises(DataError, match=r"'abc' is not a size; write .*photos@WIDTHxHEIGHT"):
        load_dataset(str(tmp_path / "photos@abc"))
