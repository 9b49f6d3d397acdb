"""Hostile and broken files given to the command line: one line on stderr naming the file, exit 2.

Model files (``--model``), datasets (``--dataset file.npz|file.csv|images.idx,labels.idx``) and input arrays
(``--input x.npy``): random bytes, truncated, missing keys, wrong shapes or dtypes, unknown layer types, absurd
sizes, NaN/inf values, labels out of range, object arrays with a pickle payload (never executed), unreadable
paths. Plus training that diverges and out-of-range method parameters.
"""

from __future__ import annotations

import builtins
import gzip
import io
import json
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lrp_studio.cli import main
from lrp_studio.data.idx import write_idx
from lrp_studio.io import save_model
from lrp_studio.nn import mlp


class _Payload:
    """Unpickling this creates a marker file: proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


#: Refusing a bad file is read from its header: the whole command stays far below this peak of
#: traced memory (NumPy reports its buffers to tracemalloc), where allocating what an absurd
#: header promises would take gigabytes.
PEAK_LIMIT = 256 * 2**20


def run_error_lean(capsys, *argv: str) -> str:
    """:func:`run_error` with the peak of traced memory (Python and NumPy) below :data:`PEAK_LIMIT`."""
    tracemalloc.start()
    try:
        line = run_error(capsys, *argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"{peak / 2**20:.0f} MiB traced while refusing: {line}"
    return line


def run_error(capsys, *argv: str) -> str:
    """Run the CLI, expect exit 2 and exactly one error line; return that line."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("lrp-studio: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as handle:  # a handle: np.savez would append ".npz" to other names
        np.savez(handle, **arrays)
    return path


def _npy(path: Path, array, allow_pickle: bool = False) -> Path:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=allow_pickle)
    return path


def _npy_header(shape, descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _images(n: int = 20) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 28, 28)).astype(np.float32)


# ------------------------------------------------------------------------------------------ datasets
def _dataset_files(tmp: Path, marker: Path) -> dict[str, tuple[str, str]]:
    """name -> (dataset spec, expected message fragment)."""
    good = io.BytesIO()
    np.savez(good, x=_images(), y=np.arange(20) % 10)
    cases: dict[str, tuple[str, str]] = {}

    def add(name: str, fragment: str, spec: str | None = None) -> None:
        cases[name] = (spec or str(tmp / name), fragment)

    (tmp / "random.npz").write_bytes(np.random.default_rng(1).bytes(600))
    add("random.npz", "not an NPZ archive")
    (tmp / "truncated.npz").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    add("truncated.npz", "not an NPZ archive")
    _npz(tmp / "pickle.npz", x=np.array([_Payload(marker)] * 20, dtype=object), y=np.arange(20) % 10)
    add("pickle.npz", "pickled data is refused")
    x = _images()
    x[3, 0, 5, 5] = np.nan
    _npz(tmp / "nan.npz", x=x, y=np.arange(20) % 10)
    add("nan.npz", "NaN or infinite")
    x[3, 0, 5, 5] = np.inf
    _npz(tmp / "inf.npz", x=x, y=np.arange(20) % 10)
    add("inf.npz", "NaN or infinite")
    _npz(tmp / "nolabels.npz", x=_images())
    add("nolabels.npz", "needs an array named 'y' or 'labels'")
    _npz(tmp / "wrongshape.npz", x=np.zeros((20, 5), np.float32), y=np.arange(20) % 2)
    add("wrongshape.npz", "do not fit the model's input shape")
    _npz(tmp / "labelcount.npz", x=_images(), y=np.arange(7))
    add("labelcount.npz", "labels of shape (7,)")
    _npz(tmp / "strings.npz", x=np.array([["a"] * 784] * 20), y=np.arange(20) % 10)
    add("strings.npz", "inputs must be numeric")
    _npz(tmp / "negative.npz", x=_images(), y=-np.arange(20))
    add("negative.npz", "labels must be non-negative")
    _npz(tmp / "huge-labels.npz", x=_images(), y=np.arange(20) * 10**8)
    add("huge-labels.npz", "labels must be below 10,000")
    _npz(tmp / "classes.npz", x=_images(), y=np.arange(20) % 12, classes=np.array([str(k) for k in range(10)]))
    add("classes.npz", "10 class names but labels go up to 11")
    _npz(tmp / "fraction.npz", x=_images(), y=np.linspace(0, 3, 20))
    add("fraction.npz", "labels must be integers")
    with zipfile.ZipFile(tmp / "absurd.npz", "w") as archive:
        archive.writestr("x.npy", _npy_header((10**6, 1, 1000, 1000)) + bytes(64))
        archive.writestr("y.npy", _npy(tmp / "y.npy", np.arange(3)).read_bytes())
    add("absurd.npz", "declares an absurd size")
    (tmp / "random.csv").write_bytes(np.random.default_rng(2).bytes(600))
    add("random.csv", "random.csv")
    (tmp / "nan.csv").write_text("a,b,label\n1,2,0\nnan,2,1\n")
    add("nan.csv", "line 3 contains NaN or infinite values")
    (tmp / "text.csv").write_text("a,b,label\n1,2,0\n1,x,1\n")
    add("text.csv", "invalid CSV content")
    (tmp / "ragged.csv").write_text("1,2,0\n3,1\n")
    add("ragged.csv", "invalid CSV content")
    (tmp / "empty.csv").write_text("")
    add("empty.csv", "CSV file is empty")
    (tmp / "fraction.csv").write_text("1,2,0\n3,4,1.5\n")
    add("fraction.csv", "labels must be integers")
    (tmp / "huge-label.csv").write_text("1,2,0\n3,4,1000000000\n")
    add("huge-label.csv", "labels must be below 10,000")

    rng = np.random.default_rng(3)
    images = (rng.random((20, 28, 28)) * 255).astype(np.uint8)
    write_idx(tmp / "images.idx", images)
    write_idx(tmp / "labels.idx", (np.arange(20) % 10).astype(np.uint8))
    write_idx(tmp / "labels12.idx", (np.arange(20) % 12).astype(np.uint8))
    write_idx(tmp / "labels7.idx", (np.arange(7) % 10).astype(np.uint8))
    (tmp / "random.idx").write_bytes(rng.bytes(300))
    (tmp / "truncated.idx").write_bytes((tmp / "images.idx").read_bytes()[:1000])
    (tmp / "absurd.idx").write_bytes(struct.pack(">HBB3I", 0, 8, 3, 10**9, 1000, 1000))
    (tmp / "truncated.idx.gz").write_bytes(gzip.compress((tmp / "images.idx").read_bytes())[:300])
    pair = lambda a, b: f"{tmp / a},{tmp / b}"  # noqa: E731
    add("random.idx", "random.idx: not an IDX file", pair("random.idx", "labels.idx"))
    add("truncated.idx", "truncated.idx: truncated IDX file", pair("truncated.idx", "labels.idx"))
    add("absurd.idx", "absurd.idx: IDX header declares an absurd size", pair("absurd.idx", "labels.idx"))
    add("truncated.idx.gz", "truncated.idx.gz: corrupt gzip data", pair("truncated.idx.gz", "labels.idx"))
    add("labels12.idx", "labels12.idx: labels must lie in 0..9", pair("images.idx", "labels12.idx"))
    add("labels7.idx", "labels7.idx: 7 labels but images.idx holds 20", pair("images.idx", "labels7.idx"))
    add("images.idx", "needs an image and a label file")
    add("missing.npz", "missing.npz: file not found")
    add("missing.csv", "missing.csv: file not found")
    add("missing-images.idx", "missing-images.idx: file not found", pair("missing-images.idx", "labels.idx"))
    (tmp / "folder.npz").mkdir()
    add("folder.npz", "folder.npz: not a regular file")
    (tmp / "data.xyz").write_text("1,2,3")
    add("data.xyz", "unsupported data file type")
    return cases


@pytest.fixture(scope="module")
def dataset_cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_datasets")
    marker = folder / "PICKLE-RAN"
    return folder, marker, _dataset_files(folder, marker)


DATASET_NAMES = [
    "random.npz", "truncated.npz", "pickle.npz", "nan.npz", "inf.npz", "nolabels.npz", "wrongshape.npz",
    "labelcount.npz", "strings.npz", "negative.npz", "huge-labels.npz", "classes.npz", "fraction.npz", "absurd.npz",
    "random.csv", "nan.csv", "text.csv", "ragged.csv", "empty.csv", "fraction.csv", "huge-label.csv",
    "random.idx", "truncated.idx", "absurd.idx", "truncated.idx.gz", "labels12.idx", "labels7.idx", "images.idx",
    "missing.npz", "missing.csv", "missing-images.idx", "folder.npz", "data.xyz",
]


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_bad_dataset_file_gives_one_line_naming_it(capsys, dataset_cases, name):
    folder, marker, cases = dataset_cases
    assert set(cases) == set(DATASET_NAMES)
    spec, fragment = cases[name]
    line = run_error_lean(capsys, "explain", "--dataset", spec)  # absurd sizes: refused from headers
    assert name in line and fragment in line, line
    assert not marker.exists(), "a pickle payload was executed"


@pytest.mark.parametrize("command", [
    ["export", "--out-dir", "{tmp}/out"],
    ["train", "--arch", "mlp:8", "--epochs", "1", "--out", "{tmp}/m.npz"],
    ["compare", "--methods", "lrp0"],
    ["evaluate", "--out", "{tmp}/r.json", "--n-samples", "2", "--methods", "lrp0"],
])
def test_every_command_reports_a_bad_dataset_file(capsys, dataset_cases, command, tmp_path):
    folder, marker, cases = dataset_cases
    argv = [part.format(tmp=tmp_path) for part in command]
    for name in ("pickle.npz", "nan.csv", "truncated.idx"):
        line = run_error(capsys, *argv, "--dataset", cases[name][0])
        assert name in line and cases[name][1] in line, line
    assert not marker.exists()
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------------- input arrays
def test_bad_input_arrays_give_one_line_naming_the_file(capsys, tmp_path):
    marker = tmp_path / "PICKLE-RAN"
    sample = np.random.default_rng(4).random((28, 28)).astype(np.float32)
    good = _npy(tmp_path / "good.npy", sample).read_bytes()
    cases = {}
    (tmp_path / "random.npy").write_bytes(np.random.default_rng(5).bytes(400))
    cases["random.npy"] = "not a .npy array"
    (tmp_path / "truncated.npy").write_bytes(good[: len(good) // 2])
    cases["truncated.npy"] = "truncated .npy file"
    (tmp_path / "header-only.npy").write_bytes(good[:40])
    cases["header-only.npy"] = "not a readable .npy array"
    _npy(tmp_path / "pickle.npy", np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    cases["pickle.npy"] = "pickled data is never loaded"
    for value, name in ((np.nan, "nan.npy"), (np.inf, "inf.npy"), (-np.inf, "neginf.npy")):
        bad = sample.copy()
        bad[3, 4] = value
        _npy(tmp_path / name, bad)
        cases[name] = "contains NaN or infinite values"
    _npy(tmp_path / "overflow.npy", np.full((28, 28), 1e300))  # finite float64, infinite as float32
    cases["overflow.npy"] = "contains NaN or infinite values (in float32)"
    _npy(tmp_path / "shape.npy", np.zeros((5, 5), np.float32))
    cases["shape.npy"] = "does not fit the model's input"
    _npy(tmp_path / "strings.npy", np.array(["a", "b"]))
    cases["strings.npy"] = "input must be real numbers"
    _npy(tmp_path / "complex.npy", np.zeros((28, 28), np.complex64))
    cases["complex.npy"] = "input must be real numbers"
    (tmp_path / "absurd.npy").write_bytes(_npy_header((10**6, 784)) + bytes(100))
    cases["absurd.npy"] = "declares an absurd size"
    (tmp_path / "absurd2.npy").write_bytes(_npy_header((10**5, 10**6)) + bytes(100))
    cases["absurd2.npy"] = "declares an absurd size"
    _npz(tmp_path / "archive.npy", x=sample)
    cases["archive.npy"] = "is an .npz archive"
    _npy(tmp_path / "empty.npy", np.zeros((0, 784), np.float32))
    cases["empty.npy"] = "contains no samples"
    _npy(tmp_path / "many.npy", np.zeros((3, 784), np.float32))
    cases["many.npy"] = "holds 3 samples; explain takes one"
    cases["missing.npy"] = "file not found"
    (tmp_path / "folder.npy").mkdir()
    cases["folder.npy"] = "is a directory"
    for name, fragment in cases.items():
        line = run_error_lean(capsys, "explain", "--input", str(tmp_path / name))
        assert name in line and fragment in line, (name, line)
    assert not marker.exists(), "a pickle payload was executed"


# --------------------------------------------------------------------------------------- model files
def _arch(layers, input_shape=(4,)) -> dict:
    return {"format": "lrp-studio-model", "version": 1, "input_shape": list(input_shape), "layers": layers}


def _model_files(tmp: Path, marker: Path) -> dict[str, str]:
    net = mlp([784, 16, 10], input_shape=(1, 28, 28), seed=0, input_range=(0.0, 1.0))
    good = save_model(net, tmp / "good.npz").read_bytes()
    state = {k: np.asarray(v) for k, v in net.state_dict().items()}
    spec = json.dumps(net.spec())
    cases = {}
    (tmp / "random.npz").write_bytes(np.random.default_rng(6).bytes(700))
    cases["random.npz"] = "not an .npz archive"
    (tmp / "truncated.npz").write_bytes(good[: len(good) // 3])
    cases["truncated.npz"] = "not a readable .npz archive"
    _npz(tmp / "noarch.npz", **state)
    cases["noarch.npz"] = "a state dict holds no architecture"
    _npz(tmp / "missing-key.npz", architecture=np.array(spec), **{k: v for k, v in state.items() if k != "3.bias"})
    cases["missing-key.npz"] = "missing ['3.bias']"
    _npz(tmp / "wrong-shape.npz", architecture=np.array(spec), **dict(state, **{"1.weight": np.zeros((16, 783))}))
    cases["wrong-shape.npz"] = "parameter '1.weight' has shape (16, 783), expected (16, 784)"
    _npz(tmp / "wrong-dtype.npz", architecture=np.array(spec), **dict(state, **{"1.bias": np.array(["x"] * 16)}))
    cases["wrong-dtype.npz"] = "parameter '1.bias' has dtype <U1, expected real numbers"
    unknown = json.loads(spec)
    unknown["layers"][2]["type"] = "softplus"
    _npz(tmp / "unknown-layer.npz", architecture=np.array(json.dumps(unknown)), **state)
    cases["unknown-layer.npz"] = "unknown layer type 'softplus'"
    _npz(tmp / "wide.npz", architecture=np.array(json.dumps(_arch(
        [{"type": "dense", "in_features": 4, "out_features": 10**9}, {"type": "relu"},
         {"type": "dense", "in_features": 10**9, "out_features": 2}]))))
    cases["wide.npz"] = "exceed the limit"
    for value, name in ((np.nan, "nan-weights.npz"), (np.inf, "inf-weights.npz")):
        weights = state["1.weight"].copy()
        weights[2, 7] = value
        _npz(tmp / name, architecture=np.array(spec), **dict(state, **{"1.weight": weights}))
        cases[name] = "parameter '1.weight' contains NaN or infinite values"
    _npz(tmp / "pickle.npz", architecture=np.array(spec), **dict(state, payload=np.array([_Payload(marker)], dtype=object)))
    cases["pickle.npz"] = "contains pickled objects, which are never loaded"
    cases["missing.npz"] = "file not found"
    (tmp / "folder.npz").mkdir()
    cases["folder.npz"] = "is a directory"
    (tmp / "model.pt").write_bytes(b"PK\x03\x04 torch pickle")
    cases["model.pt"] = "model.pt"
    return cases


def test_bad_model_files_give_one_line_naming_the_file(capsys, tmp_path):
    marker = tmp_path / "PICKLE-RAN"
    for name, fragment in _model_files(tmp_path, marker).items():
        line = run_error_lean(capsys, "explain", "--model", str(tmp_path / name))
        assert name in line and fragment in line, (name, line)
    assert not marker.exists(), "a pickle payload was executed"


# --------------------------------------------------------------------------------- unreadable paths
@pytest.fixture
def unreadable(monkeypatch):
    """Make ``open`` fail with EACCES for chosen paths in the loaders' modules (root reads any file, so chmod
    alone cannot test this when the suite runs as root; without root a real chmod 000 is tested too)."""
    from lrp_studio.data import files, idx
    from lrp_studio.io import export, model

    locked: set[str] = set()

    def guarded_open(path, *args, **kwargs):
        if os.fspath(path) in locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return builtins.open(path, *args, **kwargs)

    for module in (files, idx, export, model):
        monkeypatch.setattr(module, "open", guarded_open, raising=False)
    return locked


def test_unreadable_files_give_one_line(capsys, tmp_path, unreadable):
    save_model(mlp([784, 8, 10], input_shape=(1, 28, 28)), tmp_path / "model.npz")
    _npz(tmp_path / "data.npz", x=_images(), y=np.arange(20) % 10)
    (tmp_path / "data.csv").write_text("1,2,0\n3,4,1\n")
    write_idx(tmp_path / "images.idx", (np.ones((3, 28, 28)) * 7).astype(np.uint8))
    write_idx(tmp_path / "labels.idx", np.zeros(3, np.uint8))
    _npy(tmp_path / "x.npy", np.zeros((28, 28), np.float32))
    cases = [(["--model", "model.npz"], "model.npz"), (["--dataset", "data.npz"], "data.npz"),
             (["--dataset", "data.csv"], "data.csv"), (["--dataset", "images.idx,labels.idx"], "images.idx"),
             (["--input", "x.npy"], "x.npy")]
    for simulated in (True, False):
        for flag_value, name in cases:
            path = str(tmp_path / name)
            flag, value = flag_value
            spec = ",".join(str(tmp_path / part) for part in value.split(","))
            if simulated:
                unreadable.add(path)
            else:
                os.chmod(path, 0)
            try:
                if not simulated and os.access(path, os.R_OK):  # root: the real chmod cannot lock it
                    continue
                line = run_error(capsys, "explain", flag, spec)
                assert name in line and ("Permission denied" in line or "cannot" in line), line
            finally:
                unreadable.discard(path)
                os.chmod(path, 0o644)


# ------------------------------------------------------------------------------- numbers and training
def test_diverging_training_stops_with_one_line_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "model.npz"
    out.write_bytes(b"previous content")
    line = run_error(capsys, "train", "--arch", "mlp:16", "--dataset", "toy:moons", "--lr", "100",
                     "--optimizer", "sgd", "--loss", "mse", "--epochs", "5", "--out", str(out))
    assert "training diverged" in line and "model.npz was not written" in line and "smaller learning rate" in line
    assert out.read_bytes() == b"previous content"
    assert not [p for p in tmp_path.iterdir() if p.name != "model.npz"]  # no temp files left


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "alphabeta", "--alpha", "1", "--beta", "1"], "alpha - beta = 1"),
    (["--method", "alphabeta", "--alpha", "0.5", "--beta", "-0.5"], "--alpha: alpha must be 1 .. 100"),
    (["--method", "epsilon", "--epsilon", "-0.5"], "epsilon"),
    (["--method", "epsilon", "--epsilon", "nan"], "epsilon"),
    (["--method", "gamma", "--gamma", "-1"], "gamma"),
    (["--method", "zbox", "--low", "1", "--high", "0"], "low"),
    (["--method", "integrated-gradients", "--integrated-gradients-steps", "0"],
     "--integrated-gradients-steps: steps must be 1 .. 4096, got 0"),
    (["--method", "smoothgrad", "--smoothgrad-samples", "0"], "--smoothgrad-samples: samples must be 1 .. 4096"),
    (["--method", "smoothgrad", "--noise", "-1"], "--noise: noise must be 0 .. 10"),
    (["--method", "occlusion", "--patch", "0"], "patch"),
])
def test_out_of_range_parameters_say_what_is_allowed(capsys, argv, fragment):
    line = run_error(capsys, "explain", "--index", "3", *argv)
    assert fragment in line, line


def test_interrupted_heatmap_write_leaves_the_previous_png_and_no_temp_file(tmp_path, monkeypatch):
    from PIL import Image

    from lrp_studio.viz import heatmap_png

    path = tmp_path / "h.png"
    heatmap_png(path, np.ones((4, 4), np.float32))
    previous = path.read_bytes()

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        heatmap_png(path, np.zeros((4, 4), np.float32))
    assert path.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]
