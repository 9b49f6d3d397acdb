"""``lrp-studio export --workers 2``: the same chunks on a real 2-worker Dask LocalCluster write the same
files as this process (both with single-threaded BLAS); a cancel on the cluster keeps the files consistent."""

from __future__ import annotations

import csv

import numpy as np
from threadpoolctl import threadpool_limits

from lrp_studio.app.batch_export import export_batch
from lrp_studio.app.distributed import dask_client
from lrp_studio.cli import main
from lrp_studio.data import load_mnist_subset
from lrp_studio.zoo import load_any_model


def _export(out, *extra):
    return main(["export", "--model", "cnn", "--dataset", "mnist:test", "--indices", "690:720", "--label", "7",
                 "--batch-size", "2", "--overlay", "--out-dir", str(out), *extra])


def test_export_on_two_workers_writes_the_same_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    with threadpool_limits(limits=1, user_api="blas"):  # as every worker runs
        assert _export(tmp_path / "here") == 0
    assert _export(tmp_path / "cluster", "--workers", "2") == 0
    here, cluster = tmp_path / "here", tmp_path / "cluster"
    assert (here / "index.csv").read_bytes() == (cluster / "index.csv").read_bytes()
    rows = list(csv.DictReader((here / "index.csv").open()))
    assert len(rows) >= 3 and all(row["label"] == "7" for row in rows)
    assert np.load(here / "relevance.npy").tobytes() == np.load(cluster / "relevance.npy").tobytes()
    for row in rows:
        assert (here / row["png"]).read_bytes() == (cluster / row["png"]).read_bytes()


def test_a_cancel_on_the_cluster_writes_consistent_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    net, data = load_any_model("mlp"), load_mnist_subset("test")
    calls = []
    with dask_client(2) as client:
        result = export_batch(net, data, np.arange(200), tmp_path / "out", batch_size=4, client=client,
                              progress=lambda done, total: calls.append(done) or len(calls) < 3)
    assert result.cancelled and len(result.pngs) == calls[-1] < 200
    rows = list(csv.DictReader((tmp_path / "out" / "index.csv").open()))
    assert [int(row["index"]) for row in rows] == result.indices.tolist() == sorted(result.indices.tolist())
    assert np.load(tmp_path / "out" / "relevance.npy").shape == (len(rows), 1, 28, 28)
    assert all((tmp_path / "out" / row["png"]).exists() for row in rows)
    reference = export_batch(net, data, result.indices, tmp_path / "ref", batch_size=4)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "relevance.npy"), np.load(tmp_path / "ref" / "relevance.npy"),
                               rtol=1e-5, atol=1e-7)
