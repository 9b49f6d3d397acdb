"""``lrp-studio atlas``: a real 2-worker Dask LocalCluster gives byte-identical files to ``--workers 1``; the
atlas.json schema; bad input as one line; Ctrl-C cancels the cluster's work and exits 130."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from interrupting import interrupt_when

from lrp_studio.app.atlas import load_atlas
from lrp_studio.cli import main
from lrp_studio.data import load_mnist_subset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def small_set(tmp_path, monkeypatch):
    """64 bundled test digits as an .npz file, and a private cache folder."""
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    data = load_mnist_subset("test")
    path = tmp_path / "small.npz"
    np.savez(path, x=data.x[:64], y=data.y[:64])
    return path


def _atlas(path, out, *extra):
    return main(["atlas", "--model", "cnn", "--dataset", str(path), "--top", "4", "--chunk-size", "16",
                 "--out", str(out), *extra])


def test_two_workers_of_a_local_cluster_write_the_same_atlas_as_one(small_set, tmp_path, capsys):
    assert _atlas(small_set, tmp_path / "a1", "--workers", "1") == 0
    assert _atlas(small_set, tmp_path / "a2", "--workers", "2") == 0  # a real LocalCluster, 2 processes
    one, two = (tmp_path / "a1" / "atlas.json").read_bytes(), (tmp_path / "a2" / "atlas.json").read_bytes()
    assert one == two
    a, b = load_atlas(tmp_path / "a1"), load_atlas(tmp_path / "a2")
    for x, y in zip(a.arrays, b.arrays):
        assert all(x[name].tobytes() == y[name].tobytes() for name in x)
    assert "wrote the atlas of 148 units in 3 layers over 64 samples (top 4)" in capsys.readouterr().out


def test_atlas_json_follows_the_schema(small_set, tmp_path):
    assert _atlas(small_set, tmp_path / "out") == 0
    document = json.loads((tmp_path / "out" / "atlas.json").read_text())
    assert set(document) == {"model", "dataset", "method", "top", "layers"}
    assert (document["model"], document["dataset"], document["method"], document["top"]) == (
        "cnn", str(small_set), "epsilon-plus-flat", 4)
    assert [(l["stage"], l["name"], len(l["units"])) for l in document["layers"]] == [
        (2, "conv2d 16", 16), (5, "conv2d 32", 32), (9, "dense 100", 100)]
    for layer in document["layers"]:
        for position, unit in enumerate(layer["units"]):
            assert set(unit) == {"unit", "top_relevance", "top_activation", "relevance_values", "activation_values"}
            assert unit["unit"] == position
            assert all(0 <= i < 64 for i in unit["top_relevance"] + unit["top_activation"])
            assert len(set(unit["top_relevance"])) == len(unit["top_relevance"]) == 4
            assert unit["relevance_values"] == sorted(unit["relevance_values"], reverse=True)
            assert unit["activation_values"] == sorted(unit["activation_values"], reverse=True)
    atlas = load_atlas(tmp_path / "out")
    entry = atlas.unit(5, 3)
    assert entry.top_relevance.tolist() == document["layers"][1]["units"][3]["top_relevance"]
    assert 0.0 <= entry.relevant_share <= 1.0 and entry.max_activation == entry.activation_values[0]


@pytest.mark.parametrize("flags,message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--top", "0"], "--top must be >= 1"),
    (["--chunk-size", "0"], "--chunk-size must be >= 1"),
    (["--method", "gradient"], "a baseline gives no per-layer relevance"),
    (["--target", "label"], "--target label"),
])
def test_bad_input_is_one_line_and_status_2(small_set, tmp_path, capsys, flags, message):
    assert main(["atlas", "--model", "cnn", "--dataset", str(small_set), "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "atlas.json").exists()


#: The child: ``lrp-studio atlas --workers 2`` that writes a marker when the first chunk's summary arrives.
CHILD = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    marker = sys.argv[1]
    from lrp_studio.lrp import atlas
    real_add = atlas.TreeReducer.add

    def add(self, position, item):
        real_add(self, position, item)
        with open(marker, "w") as handle:
            handle.write(str(position))
        time.sleep(60)  # KeyboardInterrupt arrives here, with the cluster's other chunks queued

    atlas.TreeReducer.add = add
    from lrp_studio.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def test_ctrl_c_cancels_the_cluster_and_exits_130(tmp_path):
    marker, out = tmp_path / "first-chunk-done", tmp_path / "atlas"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LRP_STUDIO_CACHE_DIR": str(tmp_path / "cache")}
    status, err = interrupt_when(CHILD, marker, ["atlas", "--model", "mlp", "--dataset", "mnist:test", "--workers",
                                                 "2", "--chunk-size", "8", "--out", str(out)], env, tmp_path)
    assert status == 130, err  # and the cluster was closed within a minute
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "lrp-studio: interrupted"
    assert not (out / "atlas.json").exists()


def test_a_graph_network_gets_an_atlas_of_its_convolutions(tmp_path, monkeypatch):
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    data = load_mnist_subset("test")
    np.savez(tmp_path / "tiny.npz", x=data.x[:24], y=data.y[:24])
    assert main(["atlas", "--model", "resnet", "--dataset", str(tmp_path / "tiny.npz"), "--top", "3",
                 "--chunk-size", "10", "--out", str(tmp_path / "r")]) == 0
    document = json.loads((tmp_path / "r" / "atlas.json").read_text())
    assert [(l["name"], len(l["units"])) for l in document["layers"]] == [
        ("conv2d 16", 16), ("conv2d 16", 16), ("conv2d 16", 16), ("conv2d 32", 32), ("conv2d 32", 32),
        ("conv2d 32", 32)]
    assert all(len(u["top_relevance"]) == 3 for l in document["layers"] for u in l["units"])


def test_scheduler_address_of_a_running_cluster_gives_the_same_atlas(small_set, tmp_path):
    """--scheduler connects to a cluster that outlives the command (here one started by the test)."""
    import logging

    from distributed import LocalCluster

    assert _atlas(small_set, tmp_path / "here") == 0
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR) as cluster:
        assert _atlas(small_set, tmp_path / "remote", "--scheduler", cluster.scheduler_address) == 0
        assert len(cluster.scheduler.workers) == 2  # still running: the command only disconnected
    assert (tmp_path / "here" / "atlas.json").read_bytes() == (tmp_path / "remote" / "atlas.json").read_bytes()
