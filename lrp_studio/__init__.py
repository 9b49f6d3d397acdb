"""LRP Studio: see inside neural networks with Layer-wise Relevance Propagation.

The Python API (DESIGN.md 3.2, README "Python API")::

    import lrp_studio
    net = lrp_studio.load_model("cnn")   # or "mlp", "model.npz", "model.onnx", a state dict with arch=...
    exp = lrp_studio.explain(net, x)     # method=None: default_method(net); target=None: the prediction
    exp = lrp_studio.explain(net, x, target=3, method="epsilon", epsilon=0.1, keep_layers=False)
    lrp_studio.method_info("epsilon").params   # the declared parameters: name, default, range, help
    history = lrp_studio.fit(net, x, y, epochs=5, batch_size=64, lr=0.05, optimizer="momentum")
    viewer = lrp_studio.view("cnn", x, y, method="epsilon")   # the studio on your data (Qt loaded now)
    lrp_studio.run()                                         # a plain script: run the window until closed

Importing the package changes no process-wide setting (the allocator tuning of
:func:`lrp_studio.backend.tune_host_allocator` is an explicit call of the CLI and the GUI).
"""

from lrp_studio.backend import set_backend
from lrp_studio.errors import DataError, LRPStudioError, ModelFileError, ParameterError
from lrp_studio.io import save_model
from lrp_studio.lrp import (
    BASELINES, COMPOSITES, METHODS, RULES, Explanation, default_method, explain, explain_neuron, method_info,
)
from lrp_studio.nn import Network, fit, lenet, mlp
from lrp_studio.zoo import load_model

__version__ = "0.1.0"

#: Names resolved on first use from :mod:`lrp_studio.gui.viewer` (importing the package loads no Qt).
_GUI_NAMES = ("view", "run", "Viewer")


def __getattr__(name: str):  # PEP 562: Qt is imported only when view/run are first used
    if name in _GUI_NAMES:
        from lrp_studio.gui import viewer

        return getattr(viewer, name)
    raise AttributeError(f"module 'lrp_studio' has no attribute {name!r}")


__all__ = [
    "BASELINES", "COMPOSITES", "DataError", "Explanation", "LRPStudioError", "METHODS", "ModelFileError", "Network",
    "ParameterError", "RULES", "default_method", "explain", "explain_neuron", "fit", "lenet", "load_model",
    "method_info", "mlp", "run", "save_model", "set_backend", "view", "Viewer", "__version__",
]
