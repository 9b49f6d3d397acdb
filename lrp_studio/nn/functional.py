"""Pure array functions behind the layers: im2col, its fold (col2im), pooling windows.

Every function works on NumPy and CuPy arrays alike (the module is taken from the
arguments). Convolution is im2col (a strided view, one copy) followed by one matrix
product; its transpose is one matrix product followed by a fold that loops over the
kh*kw kernel offsets only, never over pixels or samples.
"""

from __future__ import annotations

from typing import Any

from lrp_studio.backend import xp_of

Array = Any


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def pad2d(x: Array, padding: int) -> Array:
    """Zero-pad the two trailing axes of ``x`` (N, C, H, W) by ``padding`` on each side."""
    if padding == 0:
        return x
    xp = xp_of(x)
    return xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def windows(x: Array, kernel: tuple[int, int], stride: int, padding: int = 0) -> Array:
    """Strided view of all kernel windows.

    Parameters
    ----------
    x : array (N, C, H, W)
    kernel : (kh, kw)
    stride, padding : int

    Returns
    -------
    array (N, C, Ho, Wo, kh, kw)
        A view (no copy) of the zero-padded input.
    """
    xp = xp_of(x)
    xpad = xp.ascontiguousarray(pad2d(x, padding))
    n, c, h, w = xpad.shape
    kh, kw = kernel
    ho = (h - kh) // stride + 1
    wo = (w - kw) // stride + 1
    sn, sc, sh, sw = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(n, c, ho, wo, kh, kw), strides=(sn, sc, sh * stride, sw * stride, sh, sw)
    )


def im2col(x: Array, kernel: tuple[int, int], stride: int, padding: int) -> Array:
    """Unfold ``x`` (N, C, H, W) into columns (N*Ho*Wo, C*kh*kw), row order (n, i, j)."""
    view = windows(x, kernel, stride, padding)
    n, c, ho, wo, kh, kw = view.shape
    return view.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)


def fold_windows(
    patches: Array, input_shape: tuple[int, ...], stride: int, padding: int = 0
) -> Array:
    """Sum window values back onto the input grid (the adjoint of :func:`windows`).

    Parameters
    ----------
    patches : array (N, C, Ho, Wo, kh, kw)
        One value per window position and kernel offset (may be a transposed view).
    input_shape : (N, C, H, W)
        Shape of the unpadded input.
    stride, padding : int

    Returns
    -------
    array (N, C, H, W)
        Values of overlapping windows are added; padding positions are dropped.
    """
    xp = xp_of(patches)
    n, c, h, w = input_shape
    _, _, ho, wo, kh, kw = patches.shape
    out = xp.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=patches.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += patches[..., i, j]
    if padding:
        out = out[:, :, padding:-padding, padding:-padding]
    return out


def col2im(
    cols: Array, input_shape: tuple[int, ...], kernel: tuple[int, int], stride: int, padding: int
) -> Array:
    """Fold columns (N*Ho*Wo, C*kh*kw) back to an input-shaped array (N, C, H, W) by summing."""
    n, c, h, w = input_shape
    kh, kw = kernel
    ho = conv_output_size(h, kh, stride, padding)
    wo = conv_output_size(w, kw, stride, padding)
    patches = cols.reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
    return fold_windows(patches, input_shape, stride, padding)


def conv_cols_forward(cols: Array, weight2d: Array, bias: Array | None, n: int, ho: int, wo: int) -> Array:
    """Convolution output from unfolded input.

    Parameters
    ----------
    cols : array (N*Ho*Wo, K)
    weight2d : array (O, K)
    bias : array (O,) or None
    n, ho, wo : int

    Returns
    -------
    array (N, O, Ho, Wo)
    """
    out = cols @ weight2d.T
    if bias is not None:
        out += bias
    return out.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def conv_cols_transpose(grad_out: Array, weight2d: Array) -> Array:
    """Back-project an output-shaped array (N, O, Ho, Wo) to columns (N*Ho*Wo, K)."""
    n, o, ho, wo = grad_out.shape
    return grad_out.transpose(0, 2, 3, 1).reshape(n * ho * wo, o) @ weight2d
