"""Image files as model inputs (lrp_studio.io.images): conversion, the bundled CNN on photo-like digits, hostile files."""

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from lrp_studio.cli import main
from lrp_studio.errors import DataError
from lrp_studio.io import load_input
from lrp_studio.io.images import MAX_IMAGE_PIXELS, image_to_input, load_input_image, read_image
from lrp_studio.zoo import load_any_model
from tools.make_digit_photo import digit_photo


@pytest.fixture(scope="module")
def cnn():
    return load_any_model("cnn")


def _predict(net, x):
    return int(np.argmax(net.predict(x), axis=1)[0])


@pytest.mark.parametrize("size", [(400, 300), (90, 140), (1200, 1000), (28, 28)])
def test_photo_of_a_three_is_classified_as_three_at_any_size(tmp_path, cnn, size):
    path = tmp_path / "three.png"
    digit_photo(3, *size, seed=1).save(path)
    loaded = load_input_image(path, cnn.input_shape, cnn.input_range)
    assert loaded.x.shape == (1, 1, 28, 28) and loaded.x.dtype == np.float32
    assert _predict(cnn, loaded.x) == 3


@pytest.mark.parametrize("digit", [2, 3, 4, 5, 7, 9])
def test_both_polarities_give_the_same_input_and_the_digit(tmp_path, cnn, digit):
    dark_on_light, light_on_dark = tmp_path / "a.png", tmp_path / "b.png"
    digit_photo(digit, seed=digit).save(dark_on_light)
    digit_photo(digit, seed=digit, light_on_dark=True).save(light_on_dark)
    a = load_input_image(dark_on_light, cnn.input_shape, cnn.input_range)
    b = load_input_image(light_on_dark, cnn.input_shape, cnn.input_range)
    assert any(note.startswith("inverted") for note in a.notes)
    assert not any(note.startswith("inverted") for note in b.notes)
    assert np.corrcoef(a.x.ravel(), b.x.ravel())[0, 1] > 0.9  # the same digit (a pixel of shift at most)
    assert _predict(cnn, a.x) == digit == _predict(cnn, b.x)


def test_digit_framing_matches_mnist_statistics(tmp_path, cnn):
    """20/28 box and centre of mass at the centre: the framed ink's box and centroid, measured."""
    path = tmp_path / "five.png"
    digit_photo(5, 500, 300).save(path)
    x = load_input_image(path, cnn.input_shape, cnn.input_range).x[0, 0]
    assert x.min() >= 0 and x.max() == pytest.approx(1.0, abs=0.02)  # paper -> 0, ink stretched to full
    rows, cols = np.nonzero(x > 0.25)
    assert max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) in (19, 20, 21)
    total = x.sum()
    cy, cx = (x.sum(axis=1) @ np.arange(28)) / total, (x.sum(axis=0) @ np.arange(28)) / total
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0


def test_jpeg_input_is_classified(tmp_path, cnn):
    path = tmp_path / "seven.jpg"
    digit_photo(7, 320, 240, seed=3).save(path, quality=70)
    assert _predict(cnn, load_input(path, cnn.input_shape, cnn.input_range).x) == 7


def test_grey_and_rgb_files_convert_with_the_601_luma(tmp_path):
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    rgb[:] = (200, 100, 50)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    grey = read_image(tmp_path / "c.png", "L")
    assert grey.shape == (10, 10) and int(grey[0, 0]) == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    Image.fromarray(grey).save(tmp_path / "g.png")
    as_rgb = read_image(tmp_path / "g.png", "RGB")
    assert as_rgb.shape == (10, 10, 3) and (as_rgb == grey[..., None]).all()


def test_colour_model_gets_three_channels_letterboxed_in_its_range():
    """A 40x20 red bar on blue for a (3, 16, 16) model in [-1, 1]: fitted to 16x8, padded with the border colour."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:] = (0, 0, 255)
    pixels[5:15, 5:35] = (255, 0, 0)
    x = image_to_input(pixels, (3, 16, 16), (-1.0, 1.0)).x[0]
    assert x.shape == (3, 16, 16)
    np.testing.assert_allclose(x[:, 0, 0], [-1, -1, 1], atol=1e-6)  # padding = the blue border, mapped to [-1, 1]
    np.testing.assert_allclose(x[:, 8, 8], [1, -1, -1], atol=0.05)  # the red bar, centred
    assert np.allclose(x[:, :4], x[:, :1, :1], atol=1e-6)  # rows 0..3: letterbox padding (16x8 image at rows 4..11)


def test_colour_file_on_a_grey_model_uses_the_601_luma():
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[:] = (200, 100, 50)
    x = image_to_input(pixels, (1, 8, 8), (0.0, 1.0), polarity="keep", framing="pad").x
    np.testing.assert_allclose(x, (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, atol=1e-5)


def test_value_range_maps_255_onto_the_models_range():
    pixels = np.full((28, 28), 255, dtype=np.uint8)
    pixels[:, :14] = 0
    x = image_to_input(pixels, (1, 28, 28), (-0.5, 2.0), polarity="keep", framing="pad").x
    assert x.min() == pytest.approx(-0.5) and x.max() == pytest.approx(2.0)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_huge_declared_dimensions_are_refused_from_the_header(tmp_path):
    """A 200-byte PNG claiming 100000 x 100000 pixels: refused before decoding, nothing big allocated."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    tracemalloc.start()
    with pytest.raises(DataError) as error:
        read_image(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert f"more than {MAX_IMAGE_PIXELS:,} pixels" in str(error.value)
    assert "\n" not in str(error.value)
    assert peak < 5_000_000


@pytest.mark.parametrize("side", [5000, 1100])
def test_decompression_bomb_is_refused(tmp_path, side):
    """Real PNGs of zeros (25 MP in ~25 kB; 1.2 MP, where Pillow only warns) with a 1 MP limit."""
    path = tmp_path / "bomb.png"
    Image.new("L", (side, side)).save(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match="more than 1,000,000 pixels"):
        read_image(path, max_pixels=1_000_000)


@pytest.mark.parametrize("name, content", [
    ("cut.png", "truncated"),
    ("text.png", b"hello, not an image\n"),
    ("script.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"),
    ("empty.jpg", b""),
])
def test_damaged_and_foreign_files_are_one_line_data_errors(tmp_path, name, content):
    path = tmp_path / name
    if content == "truncated":
        digit_photo(3).save(tmp_path / "full.png")
        data = (tmp_path / "full.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as error:
        read_image(path)
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_cli_explains_a_photo_and_says_it_inverted(capsys, tmp_path):
    photo, heatmap = tmp_path / "digit.png", tmp_path / "heat.png"
    digit_photo(3, 400, 300).save(photo)
    code = main(["explain", "--model", "cnn", "--input", str(photo), "--out", str(heatmap)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "prediction: class 3" in out
    assert "note: inverted: dark ink on a light background" in err
    assert Image.open(heatmap).size == (28 * 8, 28 * 8)


def test_cli_refuses_a_truncated_image_with_one_line(capsys, tmp_path):
    digit_photo(3).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:300])
    code = main(["explain", "--model", "cnn", "--input", str(tmp_path / "cut.jpg")])
    _, err = capsys.readouterr()
    assert code != 0 and len(err.strip().splitlines()) == 1 and "cut.jpg" in err


def test_cli_warns_about_0_255_arrays(capsys, tmp_path):
    from lrp_studio.data import load_mnist_subset

    np.save(tmp_path / "x.npy", (load_mnist_subset("all").x[7] * 255).astype(np.uint8))
    code = main(["explain", "--model", "cnn", "--input", str(tmp_path / "x.npy")])
    _, err = capsys.readouterr()
    assert code == 0
    assert "warning: input values span 0..255 but the model's input range is [0, 1]" in err
    assert "divide by 255" in err
