"""Pure array functions behind the layers: im2col, its fold (col2im), pooling windows.

Every function works on NumPy and CuPy arrays alike (the module is taken from the
arguments). Convolution is im2col (a strided view, one copy) followed by one matrix
product; its transpose is one matrix product followed by a fold that loops over the
kh*kw kernel offsets only, never over pixels or samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
    """Unfold ``x`` (N, C, H, W) into columns (C*kh*kw, Ho*Wo*N).

    Row order (c, i, j) matches a conv weight reshaped to (O, C*kh*kw); column order is
    (y, x, n), batch innermost. With the batch innermost every copy below moves runs of
    Wo*N contiguous values instead of rows of Wo, which on small feature maps is 4-5x faster;
    the convolution is then one ``weight2d @ cols`` product.
    """
    xp = xp_of(x)
    n, c, h, w = x.shape
    kh, kw = kernel
    ho, wo = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    batch_last = xp.ascontiguousarray(x.transpose(1, 2, 3, 0))
    if padding:
        batch_last = xp.pad(batch_last, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    cols = xp.empty((c, kh, kw, ho, wo, n), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = batch_last[:, i : i + stride * ho : stride, j : j + stride * wo : stride, :]
    return cols.reshape(c * kh * kw, ho * wo * n)


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
    """Fold columns (C*kh*kw, Ho*Wo*N) back onto the input grid by summing (adjoint of :func:`im2col`).

    Returns
    -------
    array (N, C, H, W)
        A transposed view of a batch-last (C, H, W, N) array; padding positions are dropped.
    """
    xp = xp_of(cols)
    n, c, h, w = input_shape
    kh, kw = kernel
    ho, wo = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    patches = cols.reshape(c, kh, kw, ho, wo, n)
    out = xp.zeros((c, h + 2 * padding, w + 2 * padding, n), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i : i + stride * ho : stride, j : j + stride * wo : stride, :] += patches[:, i, j]
    if padding:
        out = out[:, padding:-padding, padding:-padding, :]
    return out.transpose(3, 0, 1, 2)


def fold_positions(
    values: Array, input_shape: tuple[int, ...], kernel: tuple[int, int], stride: int, padding: int
) -> Array:
    """:func:`col2im` of columns that are the same for every row (c, i, j): one value per window.

    Parameters
    ----------
    values : array (N, Ho, Wo)
        One value per sample and output position.
    input_shape : (N, C, H, W)

    Returns
    -------
    array (N, C, H, W)
        Each input gets the sum of the values of the windows that hold it (padding dropped), the
        same in every channel; a transposed view of a batch-last (C, H, W, N) array as from col2im.
    """
    xp = xp_of(values)
    n, c, h, w = input_shape
    kh, kw = kernel
    ho, wo = values.shape[1:]
    rows = xp.ascontiguousarray(values.transpose(1, 2, 0))  # (Ho, Wo, N): batch innermost
    # the window sum is separable: along x first (Ho, W, N), then along y: kh + kw adds, not kh * kw
    across = xp.zeros((ho, w + 2 * padding, n), dtype=values.dtype)
    for j in range(kw):
        across[:, j : j + stride * wo : stride, :] += rows
    out = xp.zeros((h + 2 * padding, w + 2 * padding, n), dtype=values.dtype)
    for i in range(kh):
        out[i : i + stride * ho : stride] += across
    full = xp.empty((c, h, w, n), dtype=values.dtype)
    full[...] = out[padding : padding + h, padding : padding + w, :]
    return full.transpose(3, 0, 1, 2)


def conv_cols_forward(cols: Array, weight2d: Array, bias: Array | None, n: int, ho: int, wo: int) -> Array:
    """Convolution output from unfolded input.

    Parameters
    ----------
    cols : array (K, Ho*Wo*N)
    weight2d : array (O, K)
    bias : array (O,) or None
    n, ho, wo : int

    Returns
    -------
    array (N, O, Ho, Wo)
        A transposed view of the batch-last (O, Ho, Wo, N) product (element-wise layers keep
        that memory order, so the next convolution's unfold starts without a copy).
    """
    out = weight2d @ cols
    if bias is not None:
        out += bias[:, None]
    return out.reshape(-1, ho, wo, n).transpose(3, 0, 1, 2)


def output_rows(grad_out: Array) -> Array:
    """Output-shaped (N, O, Ho, Wo) -> (O, Ho*Wo*N), the layout that multiplies unfolded columns."""
    n, o, ho, wo = grad_out.shape
    return grad_out.transpose(1, 2, 3, 0).reshape(o, ho * wo * n)


def conv_cols_transpose(grad_out: Array, weight2d: Array) -> Array:
    """Back-project an output-shaped array (N, O, Ho, Wo) to columns (K, Ho*Wo*N)."""
    return weight2d.T @ output_rows(grad_out)


def _offset_slices(i: int, j: int, stride: int, ho: int, wo: int) -> tuple[slice, ...]:
    """Index of kernel offset (i, j) of every window: x[..., i + stride*y, j + stride*x]."""
    return (Ellipsis, slice(i, i + stride * ho, stride), slice(j, j + stride * wo, stride))


def winner_dtype(kernel: int) -> np.dtype:
    """The smallest unsigned integer type that holds every offset 0 .. kernel**2 - 1 of a window."""
    offsets = int(kernel) ** 2
    return np.dtype(np.uint8 if offsets <= 2**8 else np.uint16 if offsets <= 2**16 else np.uint32)


def max_windows(x: Array, kernel: int, stride: int) -> tuple[Array, Array]:
    """Max pooling by a loop over the kernel offsets (k*k strided slices, no gather).

    Parameters
    ----------
    x : array (N, C, H, W)

    Returns
    -------
    best : array (N, C, Ho, Wo)
    winner : unsigned integer array (N, C, Ho, Wo)
        Row-major offset i*k + j of the winning input; on ties the first offset wins
        (a later offset must be strictly greater to take over). uint8 up to 16x16 windows, then
        uint16 or uint32 (:func:`winner_dtype`).
    """
    xp = xp_of(x)
    ho = conv_output_size(x.shape[2], kernel, stride, 0)
    wo = conv_output_size(x.shape[3], kernel, stride, 0)
    slices = [x[_offset_slices(i, j, stride, ho, wo)] for i in range(kernel) for j in range(kernel)]
    best = slices[0].copy(order="K")  # keep the input's memory order (batch-last after a conv)
    for candidate in slices[1:]:
        xp.maximum(best, candidate, out=best)
    dtype = winner_dtype(kernel)
    winner = xp.full_like(best, len(slices) - 1, dtype=dtype)
    for offset in range(len(slices) - 2, -1, -1):  # backwards, so the first maximal offset is written last
        # winner > offset here, so this moves it to ``offset`` exactly where the slice holds the maximum
        # (arithmetic instead of copyto(where=), which is 5-10x slower on strided views)
        winner -= (slices[offset] == best) * (winner - dtype.type(offset))
    return best, winner


def route_to_winners(values: Array, winner: Array, input_shape: tuple[int, ...], kernel: int, stride: int) -> Array:
    """Adjoint of :func:`max_windows`: each window's value goes to its winning input (N, C, H, W)."""
    xp = xp_of(values)
    n, c, h, w = input_shape
    ho, wo = values.shape[2:]
    # windows that tile the input exactly write every input once below: no zero fill needed
    new = xp.empty if stride == kernel and h == ho * kernel and w == wo * kernel else xp.zeros
    if winner.flags.c_contiguous:  # the pooled input's memory order
        out = new(input_shape, dtype=values.dtype)
    else:  # batch-last memory, as conv outputs have: keep it
        out = new((c, h, w, n), dtype=values.dtype).transpose(3, 0, 1, 2)
    if values.flags.c_contiguous != winner.flags.c_contiguous:  # one copy into the winners' order
        aligned = xp.empty_like(winner, dtype=values.dtype)  # beats 2k*k passes over mixed layouts
        aligned[...] = values
        values = aligned
    for offset in range(kernel * kernel):
        target = out[_offset_slices(offset // kernel, offset % kernel, stride, ho, wo)]
        if stride >= kernel:  # windows do not overlap: every input is written at most once
            xp.multiply(values, winner == offset, out=target)
        else:
            target += values * (winner == offset)
    return out
