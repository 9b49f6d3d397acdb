"""LRP Studio: see inside neural networks with Layer-wise Relevance Propagation.

The Python API (DESIGN.md 3.2)::

    import lrp_studio
    net = lrp_studio.load_model("model.npz")   # or "mlp", "cnn", "model.onnx", a state dict with arch=...
    exp = lrp_studio.explain(net, x, target=None, method="epsilon-plus-flat")
    history = lrp_studio.fit(net, x, y, epochs=5, batch_size=64, lr=0.05, optimizer="momentum")
"""

from lrp_studio.backend import set_backend
from lrp_studio.io import save_model
from lrp_studio.lrp import COMPOSITES, METHODS, RULES, Explanation, explain, explain_neuron
from lrp_studio.nn import Network, fit, lenet, mlp
from lrp_studio.zoo import load_model

__version__ = "0.1.0"

__all__ = [
    "COMPOSITES", "METHODS", "RULES", "Explanation", "Network", "explain", "explain_neuron", "fit", "lenet",
    "load_model", "mlp", "save_model", "set_backend", "__version__",
]
