"""File > Input normalisation…: give the current model (e.g. one just imported) its per-channel mean/std.

The answer ``"0.485,0.456,0.406 / 0.229,0.224,0.225"`` (mean / std, one value per input channel, in
the input's units) puts a ``normalize`` node in front of the network
(:func:`lrp_studio.nn.builders.with_normalization`; one already there is replaced), an empty answer
removes it. The model is then unsaved work (File > Save model as… writes it, as version 2).
"""

from __future__ import annotations

from typing import Any

from lrp_studio.gui import dialogs
from lrp_studio.gui.session import ask_text
from lrp_studio.io.import_common import parse_channel_values
from lrp_studio.nn.builders import with_normalization
from lrp_studio.nn.network import Network

QUESTION = ("Input normalisation the model was trained with, as MEAN / STD with one value per input channel "
            "in input units,\ne.g. 0.485,0.456,0.406 / 0.229,0.224,0.225 (torchvision's ImageNet values); "
            "empty for none:")


def _without_normalization(net: Network) -> Network:
    """``net`` without its leading normalize node (the other nodes keep names and wiring)."""
    if not net.layers or net.layers[0].type_name != "normalize":
        return net
    copy = net.copy()
    inputs = [tuple(max(s - 1, 0) for s in stages) for stages in copy.node_inputs[1:]]
    return Network(copy.layers[1:], copy.input_shape, copy.classes, copy.input_range, inputs=inputs,
                   names=copy.names[1:])


def _current_text(net: Network) -> str:
    if net.layers and net.layers[0].type_name == "normalize":
        first = net.layers[0]
        return ",".join(f"{v:g}" for v in first.mean) + " / " + ",".join(f"{v:g}" for v in first.std)
    return ""


def set_input_normalization(window: Any, answer: str | None = None) -> bool:
    """Ask for (or take) ``MEAN / STD`` and rebuild the window's model with it; errors go to a dialog."""
    net = window.state.net
    if answer is None:
        answer = ask_text(window, "Input normalisation", QUESTION, _current_text(net))
        if answer is None:
            return False
    try:
        base = _without_normalization(net)
        if answer.strip():
            mean_text, slash, std_text = answer.partition("/")
            if not slash:
                raise ValueError("give MEAN / STD separated by '/', e.g. 0.5,0.5,0.5 / 0.25,0.25,0.25")
            base = with_normalization(base, parse_channel_values(mean_text, "mean"),
                                      parse_channel_values(std_text, "std"))
    except Exception as error:
        dialogs.show_error(window, "Cannot set the input normalisation", dialogs.error_text(error))
        return False
    window.state.set_network(base, window.state.model_name, dirty=True)
    window.show_status(f"Input normalisation {'set: ' + _current_text(base) if answer.strip() else 'removed'}")
    return True
