"""File > Open bundled model: every bundled model one click away, a missing file reported in a dialog."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from lrp_studio.errors import ModelFileError
from lrp_studio.zoo import BUNDLED_MODELS


def test_every_bundled_model_is_in_the_file_menu_and_opens(window):
    menu = window.findChild(QMenu, "bundledModelsMenu")
    assert menu is not None
    names = [action.objectName() for action in menu.actions()]
    assert names == [f"bundledModel_{name}" for name in BUNDLED_MODELS] and "bundledModel_resnet" in names
    window.findChild(QAction, "bundledModel_resnet").trigger()
    assert window.wait_idle(60)
    net = window.state.net
    assert not net.is_sequential and [layer.type_name for layer in net.layers].count("add") == 2
    assert "bundled resnet" in window.model_label.text()
    assert window.state.explanation is not None and window.state.explanation.relevance.shape == (1, 1, 28, 28)
    window.findChild(QAction, "bundledModel_cnn").trigger()
    assert window.wait_idle(60)
    assert window.state.net.is_sequential and window.state.net.layers[0].type_name == "conv2d"


def test_a_missing_bundled_file_is_a_dialog_and_keeps_the_model(window, error_dialogs, monkeypatch):
    import lrp_studio.zoo as zoo

    def missing(name):
        raise ModelFileError(f"bundled model {name!r} is missing from this installation")

    monkeypatch.setattr(zoo, "load_any_model", missing)
    shown = window.state.net
    window.findChild(QAction, "bundledModel_resnet").trigger()
    assert window.state.net is shown
    assert error_dialogs == [("Cannot open model", "bundled model 'resnet' is missing from this installation")]
