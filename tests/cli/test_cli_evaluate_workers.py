"""``lrp-studio evaluate --workers 2``: the AOPC curves in fixed chunks on a real 2-worker Dask LocalCluster.

The cluster's report equals, number for number, the same chunks run one after another in this process
(:func:`chunked_scores` without a client, one BLAS thread), whose random draws are the whole run's; and
it agrees with today's in-process path (no flag) up to BLAS rounding. A bad scheduler is one error line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrp_studio.app.distributed_evaluation import chunked_scores
from lrp_studio.cli import main
from lrp_studio.data import load_mnist_subset
from lrp_studio.lrp.faithfulness import EvaluationSettings
from lrp_studio.lrp.sample_selection import select_samples
from lrp_studio.zoo import load_any_model

METHODS = ["epsilon-plus-flat", "gradient"]
ARGS = ["evaluate", "--model", "cnn", "--dataset", "mnist:test", "--n-samples", "8", "--methods", ",".join(METHODS),
        "--perturbation-steps", "3", "--batch-size", "3", "--seed", "5"]  # 3 chunks: 3 + 3 + 2 samples


def _report(path):
    return json.loads(path.read_text(encoding="utf-8"))["methods"]


def _inputs():
    net, data = load_any_model("cnn"), load_mnist_subset("test")
    selection = select_samples(data.y, 8, "balanced", 0)
    x = net.prepare_input(np.asarray(data.x)[selection.indices])
    return net, x, np.asarray(net.predict(x).argmax(axis=1), dtype=np.int64)


def test_two_workers_give_the_numbers_of_the_chunks_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    assert main([*ARGS, "--workers", "2", "--out", str(tmp_path / "cluster.json")]) == 0
    assert main([*ARGS, "--out", str(tmp_path / "here.json")]) == 0
    cluster, here = _report(tmp_path / "cluster.json"), _report(tmp_path / "here.json")
    assert list(cluster) == [*METHODS, "random"]
    assert set(cluster["epsilon-plus-flat"]["vs_reference"]) == {"mean", "sem", "wins"}

    net, x, targets = _inputs()
    settings = EvaluationSettings(steps=3, batch_size=3, seed=5)
    chunks = {s.method: s for s in chunked_scores(net, x, targets, METHODS, settings)}
    for name, score in chunks.items():
        assert cluster[name]["aopc_per_sample"] == [float(v) for v in score.per_sample]  # sample order kept
        assert cluster[name]["aopc"] == score.aopc and cluster[name]["aopc_sem"] == score.aopc_sem
        assert cluster[name]["auc"] == score.auc
        assert cluster[name]["curve_mean"] == [float(v) for v in score.curve_mean]
    # today's in-process numbers: the same noise, order and tie keys per sample. The random row has no
    # relevance: BLAS rounding only. A method's relevance changes in its last bits with the BLAS threads,
    # which can swap two near-equal regions (measured up to 0.073 in a per-sample AOPC on 100 samples)
    np.testing.assert_allclose(cluster["random"]["aopc_per_sample"], here["random"]["aopc_per_sample"], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(cluster["random"]["curve_mean"], here["random"]["curve_mean"], rtol=1e-5, atol=1e-5)
    for name in METHODS:
        np.testing.assert_allclose(cluster[name]["aopc_per_sample"], here[name]["aopc_per_sample"], atol=0.1)


@pytest.mark.parametrize("extra, message", [
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot use scheduler tcp://127.0.0.1:9"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--workers", "2", "--metric", "sparseness"], "--workers/--scheduler apply to --metric aopc/localisation"),
])
def test_bad_cluster_options_are_one_error_line(tmp_path, capsys, extra, message):
    status = main([*ARGS, "--out", str(tmp_path / "r.json"), *extra])
    err = capsys.readouterr().err.strip()
    assert status != 0 and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
