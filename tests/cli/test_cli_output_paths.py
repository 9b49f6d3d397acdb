"""Every sub-command checks its output paths before working (issue 13, point 13)."""

from __future__ import annotations

import pytest

from lrp_studio.cli import main

TOY_MODEL_ARGS = ["--arch", "mlp:4", "--dataset", "toy:moons", "--loss", "bce", "--epochs", "1"]


@pytest.fixture(scope="module")
def onnx_free_state_dict(tmp_path_factory):
    """A state dict file for ``import`` (npz, no extra package needed)."""
    import numpy as np

    path = tmp_path_factory.mktemp("sd") / "weights.npz"
    np.savez(path, **{"0.weight": np.zeros((3, 4), np.float32), "0.bias": np.zeros(3, np.float32)})
    return path


CASES = {
    "explain --out": ["explain", "--out", "{missing}/h.png"],
    "explain --npy": ["explain", "--npy", "{missing}/r.npy"],
    "explain --csv": ["explain", "--csv", "{missing}/r.csv"],
    "compare --out": ["compare", "--methods", "lrp0,gradient", "--out", "{missing}/grid.png"],
    "evaluate --out": ["evaluate", "--n-samples", "2", "--methods", "lrp0", "--out", "{missing}/r.json"],
    "evaluate --plot": ["evaluate", "--n-samples", "2", "--methods", "lrp0", "--out", "{tmp}/r.json",
                        "--plot", "{missing}/p.png"],
    "train --out": ["train", *TOY_MODEL_ARGS, "--out", "{missing}/m.npz"],
    "import --out": ["import", "{state_dict}", "--arch", "dense:3", "--input-shape", "4", "--out", "{missing}/m.npz"],
    "gui --screenshot": ["gui", "--screenshot", "{missing}/shot.png"],
    "bench --json": ["bench", "--quick", "--json", "{missing}/b.json"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_missing_output_folder_is_refused_before_any_work(case, tmp_path, capsys, onnx_free_state_dict):
    missing = tmp_path / "no" / "such"
    argv = [part.format(missing=missing, tmp=tmp_path, state_dict=onnx_free_state_dict) for part in CASES[case]]
    code = main(argv)
    out, err = capsys.readouterr()
    flag = case.split()[1]
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert f"{flag} {missing}/" in err and f"the folder {missing} does not exist" in err, err
    assert out == ""  # nothing was computed or printed before the refusal
    assert not (tmp_path / "no").exists() and not (tmp_path / "r.json").exists()


def test_an_output_that_is_a_folder_or_a_file_in_the_way_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert main(["explain", "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert main(["export", "--indices", "0:2", "--out-dir", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["export", "--indices", "0:2", "--out-dir", str(tmp_path / "taken" / "maps")]) == 2
    assert "is a file, so the folder cannot be created" in capsys.readouterr().err


def test_export_still_creates_its_folder(tmp_path, capsys):
    assert main(["export", "--indices", "0:2", "--out-dir", str(tmp_path / "new" / "maps")]) == 0
    assert (tmp_path / "new" / "maps" / "index.csv").exists()
