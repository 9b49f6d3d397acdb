"""Session files: round trip of model and state, validation, hostile files refused with one line."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from lrp_studio.errors import ModelFileError
from lrp_studio.io import load_model, save_model
from lrp_studio.io.session import default_session, load_session, save_session, validate_session
from lrp_studio.nn import mlp


def small_net():
    return mlp([4, 5, 3], seed=1, classes=["a", "b", "c"], input_range=(0.0, 1.0))


def full_session():
    session = default_session()
    session.update(model_name="tiny.npz", dataset={"spec": "toy:moons", "name": "toy:moons"}, index=12,
                   method="custom", target=2, params={"epsilon": {"epsilon": 0.5, "bias": False}, "custom": {"gamma": 0.1}},
                   custom_rules={0: "flat", 2: "epsilon"}, selection=[2, 4],
                   view={"colormap": "coldnhot", "color_mode": "activation", "scale_mode": "global", "overlay": True,
                         "top_k": 5},
                   custom_input=np.linspace(0, 1, 4, dtype=np.float32))
    return session


def test_round_trip(tmp_path):
    net = small_net()
    path = save_session(tmp_path / "s.lrpsession", net, full_session())
    assert path.exists() and not list(tmp_path.glob(".*tmp*"))
    loaded, session = load_session(path)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
    assert loaded.classes == ["a", "b", "c"] and loaded.input_range == (0.0, 1.0)
    assert session["index"] == 12 and session["method"] == "custom" and session["target"] == 2
    assert session["params"]["epsilon"] == {"epsilon": 0.5, "bias": False}
    assert session["custom_rules"] == {0: "flat", 2: "epsilon"}
    assert session["selection"] == [2, 4] and session["dataset"]["spec"] == "toy:moons"
    assert session["view"] == {"colormap": "coldnhot", "color_mode": "activation", "scale_mode": "global",
                               "overlay": True, "top_k": 5}
    np.testing.assert_allclose(session["custom_input"], np.linspace(0, 1, 4))


def test_archive_holds_only_arrays_and_json(tmp_path):
    path = save_session(tmp_path / "s.lrpsession", small_net(), full_session())
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["0.bias", "0.weight", "2.bias", "2.weight", "architecture", "session"]
        data = json.loads(str(archive["session"][()]))
        assert data["format"] == "lrp-studio-session" and data["custom_rules"] == {"0": "flat", "2": "epsilon"}


def test_a_model_file_is_not_a_session(tmp_path):
    save_model(small_net(), tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="no 'session' entry"):
        load_session(tmp_path / "m.npz")
    # and the model loader still refuses unknown entries
    save_session(tmp_path / "s.lrpsession", small_net(), full_session())
    (tmp_path / "s.npz").write_bytes((tmp_path / "s.lrpsession").read_bytes())
    with pytest.raises(ModelFileError, match="unexpected"):
        load_model(tmp_path / "s.npz")


def _rewrite(path, session_text=None, extra=None, drop=()):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files if k not in drop}
    if session_text is not None:
        arrays["session"] = np.array(session_text)
    arrays.update(extra or {})
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("change, message", [
    ({"format": "other"}, "not an LRP Studio session"),
    ({"version": 9}, "unsupported session version"),
    ({"index": -1}, "'index'"),
    ({"index": True}, "'index'"),
    ({"params": {"epsilon": {"epsilon": "x"}}}, "must be a finite number"),
    ({"custom_rules": {"a": "flat"}}, "layer indices"),
    ({"selection": [1]}, "selection"),
    ({"view": {"overlay": "yes"}}, "overlay"),
    ({"custom_input": [1, "x"]}, "numbers only"),
    ({"dataset": "mnist"}, "'dataset'"),
])
def test_bad_fields_are_refused(tmp_path, change, message):
    path = save_session(tmp_path / "s.lrpsession", small_net(), default_session())
    with np.load(path, allow_pickle=False) as archive:
        data = json.loads(str(archive["session"][()]))
    data.update(change)
    _rewrite(path, json.dumps(data))
    with pytest.raises(ModelFileError, match=message) as info:
        load_session(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_hostile_files(tmp_path):
    good = save_session(tmp_path / "good.lrpsession", small_net(), full_session())
    data = good.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"hello",
        "pickle": pickle.dumps({"session": "x"}),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.lrpsession"
        path.write_bytes(content)
        with pytest.raises(ModelFileError) as info:
            load_session(path)
        assert str(path) in str(info.value), name
    # an object array (pickled) as the session entry
    path = tmp_path / "objects.lrpsession"
    path.write_bytes(data)
    _rewrite(path, extra={"session": np.array([{"format": "x"}], dtype=object)})
    with pytest.raises(ModelFileError, match="pickled"):
        load_session(path)
    # bad JSON, a non-string session entry
    path.write_bytes(data)
    _rewrite(path, "{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_session(path)
    path.write_bytes(data)
    _rewrite(path, extra={"session": np.zeros(3)})
    with pytest.raises(ModelFileError, match="0-d unicode"):
        load_session(path)
    # missing parameters
    path.write_bytes(data)
    _rewrite(path, drop=("0.weight",))
    with pytest.raises(ModelFileError, match="missing"):
        load_session(path)
    with pytest.raises(ModelFileError, match="file not found"):
        load_session(tmp_path / "nothing.lrpsession")


def test_save_refuses_bad_values_and_keeps_the_old_file(tmp_path):
    path = save_session(tmp_path / "s.lrpsession", small_net(), full_session())
    before = path.read_bytes()
    with pytest.raises(ModelFileError, match="cannot save"):
        save_session(path, small_net(), {**full_session(), "custom_input": [float("nan")]})
    with pytest.raises(ModelFileError, match="cannot save"):
        save_session(path, small_net(), {**full_session(), "index": -3})
    assert path.read_bytes() == before
    with pytest.raises(ModelFileError, match="cannot write"):
        save_session(tmp_path / "missing" / "s.lrpsession", small_net(), full_session())


def test_validate_session_defaults():
    session = validate_session({"format": "lrp-studio-session", "version": 1})
    assert session["index"] == 0 and session["view"]["top_k"] == 3 and session["custom_input"] is None


def _without_method(tmp_path, net, name: str):
    """A session file as written before the method field (or with ``"method": null``)."""
    path = save_session(tmp_path / f"{name}.lrpsession", net, full_session())
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    data = json.loads(str(arrays["session"][()]))
    del data["method"]
    arrays["session"] = np.array(json.dumps(data))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def test_a_missing_method_is_the_model_aware_default(tmp_path):
    """Old files without 'method' open with default_method(net): epsilon-plus on a dense-first net (the flat
    rule on a dense input layer gives a constant heatmap), epsilon-plus-flat on a conv-first one."""
    from lrp_studio.lrp import default_method
    from lrp_studio.nn import Network

    dense = small_net()
    conv = Network.from_spec({"input_shape": [1, 6, 6], "layers": [
        {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 1, "padding": 0},
        {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "in_features": 32, "out_features": 3}]}, seed=0)
    assert load_session(_without_method(tmp_path, dense, "dense"), default_method)[1]["method"] == "epsilon-plus"
    assert load_session(_without_method(tmp_path, conv, "conv"), default_method)[1]["method"] == "epsilon-plus-flat"
    assert load_session(_without_method(tmp_path, dense, "plain"))[1]["method"] is None  # io does not import lrp
    assert default_session()["method"] is None
    # a saved method is kept, whatever the default
    assert load_session(save_session(tmp_path / "kept.lrpsession", dense, full_session()),
                        default_method)[1]["method"] == "custom"
    path = save_session(tmp_path / "none.lrpsession", dense, {**full_session(), "method": None})
    assert load_session(path, default_method)[1]["method"] == "epsilon-plus"
