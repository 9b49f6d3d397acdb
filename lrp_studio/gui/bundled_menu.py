"""File > Open bundled model: the models that ship with LRP Studio (``mlp``, ``cnn``, ``resnet``), one click each.

The same names as ``lrp-studio gui --model NAME`` and ``lrp_studio.load_model(NAME)``
(:data:`lrp_studio.zoo.BUNDLED_MODELS`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from lrp_studio.gui import dialogs

#: Menu text of each bundled model (every name of BUNDLED_MODELS gets an entry; unknown ones their name).
DESCRIPTIONS = {
    "mlp": "MLP 784-300-100-10",
    "cnn": "CNN conv5x5(16)-pool-conv5x5(32)-pool-100-10",
    "resnet": "ResNet: residual CNN with BatchNorm (graph)",
    "shapes": "Shapes CNN: RGB, normalised input (opens toy:shapes)",
}


def add_bundled_models_menu(window: Any, file_menu: QMenu) -> QMenu:
    """Add the submenu to ``file_menu``; each action opens its model in ``window`` (a MainWindow).

    Returns
    -------
    QMenu
        The submenu; its actions are named ``bundledModel_{name}``.
    """
    from lrp_studio.zoo import BUNDLED_MODELS

    menu = file_menu.addMenu("Open &bundled model")
    menu.setObjectName("bundledModelsMenu")
    for name in BUNDLED_MODELS:
        action = QAction(f"{name}: {DESCRIPTIONS.get(name, name)}", window)
        action.setObjectName(f"bundledModel_{name}")
        action.setStatusTip(f"Open the bundled model '{name}' (lrp-studio gui --model {name})")
        action.triggered.connect(lambda _checked=False, model=name: open_bundled_model(window, model))
        menu.addAction(action)
    return menu


def open_bundled_model(window: Any, name: str) -> bool:
    """Show the bundled model ``name`` in ``window``; an error (e.g. a missing file) goes to a dialog.

    Returns
    -------
    bool
        Whether the model was opened.
    """
    from lrp_studio.data import load_dataset
    from lrp_studio.zoo import BUNDLED_DATASETS, load_any_model

    try:
        net = load_any_model(name)
    except Exception as error:  # a damaged installation: say so, keep the shown model
        dialogs.show_error(window, "Cannot open model", dialogs.error_text(error))
        return False
    spec = BUNDLED_DATASETS.get(name)
    fits = spec is None or window.state.fits(net)
    window.state.set_network(net, f"bundled {name}")
    if not fits:
        window.state.set_dataset(load_dataset(spec), spec)  # the data the model was made for
    window.show_status(f"Opened the bundled model {name}" + (f" with {spec}" if spec else ""))
    return True
