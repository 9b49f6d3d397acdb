"""Chunk sizes of batch jobs from a memory budget (plain NumPy arithmetic on a network's shapes).

Explanations (:func:`lrp_studio.explain`), the GUI's predictions, perturbation heatmaps and
faithfulness curves run large batches chunk by chunk; the chunk holds as many samples as fit a
budget of float32 values for one sample's stage activations plus each conv layer's im2col columns.
"""

from __future__ import annotations

import numpy as np

from lrp_studio.nn.network import Network

__all__ = ["CHUNK_BUDGET", "FORWARD_BUDGET", "chunk_size", "forward_chunk"]

CHUNK_BUDGET = 4_000_000  # float32 values of activations and im2col columns kept per chunk (~16 MB)


#: float32 values per chunk of a forward-only batch job (perturbation copies, faithfulness curves;
#: ~256 MB): nothing is kept for a backward pass, so chunks may be larger than explanation chunks.
FORWARD_BUDGET = 64_000_000


def chunk_size(net: Network, budget: int | None = None) -> int:
    """Samples per chunk so that one chunk's traced activations and conv columns fit ``budget``.

    Large batches are explained chunk by chunk: the working set then stays in cache and the
    peak memory stays bounded (CNN at batch 1024: about 4x less memory and faster).

    Parameters
    ----------
    net : Network
    budget : int, optional
        float32 values (activations of every stage plus each conv layer's im2col columns) per chunk;
        default :data:`CHUNK_BUDGET`, read at call time (so a changed module value applies).

    Returns
    -------
    int
        At least 1.
    """
    per_sample = sum(int(np.prod(shape)) for shape in net.shapes)
    for index in net.linear_indices:
        layer = net.layers[index]
        if layer.type_name == "conv2d":
            per_sample += layer.fan_in * int(np.prod(net.shapes[index + 1][1:]))
    return max(1, int(CHUNK_BUDGET if budget is None else budget) // per_sample)


def forward_chunk(net: Network, limit: int = 2048) -> int:
    """Inputs per forward pass of a forward-only batch job: :data:`FORWARD_BUDGET`, at most ``limit``.

    ``limit`` was the fixed chunk of these jobs before (2048 copies: 2 GB of one conv layer's
    activations for a VGG-sized network on 64 x 64 inputs).
    """
    return int(max(1, min(int(limit), chunk_size(net, FORWARD_BUDGET))))
