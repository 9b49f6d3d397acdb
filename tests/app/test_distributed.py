"""The chunk path (app/distributed.py) on a real 2-worker LocalCluster: stopping early cancels the cluster's
work (a scheduler that outlives the run, as a remote one does, is left without our tasks); the inputs copy
is content-named, reused, and read memory-mapped row by row."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lrp_studio.app.atlas import iter_atlas
from lrp_studio.app.distributed import chunk_ranges, dask_client, inputs_file, read_rows
from lrp_studio.data import load_mnist_subset
from lrp_studio.errors import ParameterError
from lrp_studio.zoo import load_any_model


def _our_tasks(dask_scheduler):
    return sum(1 for key in dask_scheduler.tasks if "atlas_chunk" in str(key) or "_on_worker" in str(key))


def test_closing_the_run_early_cancels_the_remaining_chunks(tmp_path, monkeypatch):
    monkeypatch.setenv("LRP_STUDIO_CACHE_DIR", str(tmp_path))
    net = load_any_model("mlp")
    inputs = inputs_file(load_mnist_subset("all").x)
    with dask_client(2) as client:
        work = iter_atlas(net, inputs, top=4, method="epsilon-plus", client=client, chunk=16)  # 313 chunks
        done, total = next(work)
        assert 16 <= done < total == 5000
        assert client.run_on_scheduler(_our_tasks) > 0
        work.close()  # what Ctrl-C or the GUI's Cancel does
        deadline = time.monotonic() + 30
        while client.run_on_scheduler(_our_tasks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.run_on_scheduler(_our_tasks) == 0


def test_inputs_file_is_named_by_content_reused_and_read_by_rows(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 1, 4, 4)).astype(np.float32)
    first = inputs_file(x, tmp_path)
    written = (tmp_path / first.path.split("/")[-1]).stat().st_mtime_ns
    again = inputs_file(x.astype(np.float64), tmp_path)  # the same values: the same file, not rewritten
    assert again == first and (tmp_path / first.path.split("/")[-1]).stat().st_mtime_ns == written
    assert inputs_file(x + 1, tmp_path).path != first.path
    np.testing.assert_array_equal(read_rows(first.path, 7, 19), x[7:19])
    assert chunk_ranges(50, 16) == [(0, 16), (16, 32), (32, 48), (48, 50)]
    with pytest.raises(ParameterError):
        chunk_ranges(50, 0)
    with pytest.raises(ParameterError, match="--workers"):
        with dask_client(0):
            pass
