"""Convolution and pooling in numpy (channels last), with a float32 error bound carried alongside.

Every function takes a batch ``x`` of shape (n, H, W, C) (a sequence is (n, 1, L, C)) and computes in
``x``'s dtype. Padding follows Keras ("valid", "same": the total padding split with the smaller half
before; "causal" for 1-D: all of it before).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Padding = Literal["valid", "same", "causal"]


def out_size(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(output size, padding before, padding after) of one spatial axis, as Keras computes them."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        if size < span:
            return 0, 0, 0
        return (size - span) // stride + 1, 0, 0
    if padding == "causal":
        total = span - 1
        return (size + total - span) // stride + 1, total, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def windows(
    x: npt.NDArray[Any],
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
    fill: float,
) -> npt.NDArray[Any]:
    """(n, OH, OW, kh, kw, C): every kernel window of ``x`` (padded with ``fill``)."""
    n, h, w, c = x.shape
    oh, ph0, ph1 = out_size(h, kernel[0], strides[0], dilation[0], padding)
    ow, pw0, pw1 = out_size(w, kernel[1], strides[1], dilation[1], padding)
    xp = np.full((n, h + ph0 + ph1, w + pw0 + pw1, c), fill, dtype=x.dtype)
    xp[:, ph0 : ph0 + h, pw0 : pw0 + w, :] = x
    out = np.empty((n, oh, ow, kernel[0], kernel[1], c), dtype=x.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r0 = i * dilation[0]
            c0 = j * dilation[1]
            out[:, :, :, i, j, :] = xp[
                :,
                r0 : r0 + (oh - 1) * strides[0] + 1 : strides[0],
                c0 : c0 + (ow - 1) * strides[1] + 1 : strides[1],
            ]
    return out


def conv2d(
    x: npt.NDArray[Any],
    kernel: npt.NDArray[Any],
    bias: npt.NDArray[Any],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
) -> npt.NDArray[Any]:
    """Conv2D: ``x`` (n, H, W, C), ``kernel`` (kh, kw, C, F) -> (n, OH, OW, F), in ``x``'s dtype."""
    kh, kw, c, f = kernel.shape
    win = windows(x, (kh, kw), strides, dilation, padding, 0.0)
    n, oh, ow = win.shape[:3]
    y = win.reshape(n * oh * ow, kh * kw * c) @ kernel.reshape(kh * kw * c, f).astype(x.dtype)
    y += bias.astype(x.dtype)
    return np.asarray(y.reshape(n, oh, ow, f))


def depthwise2d(
    x: npt.NDArray[Any],
    kernel: npt.NDArray[Any],
    bias: npt.NDArray[Any],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
) -> npt.NDArray[Any]:
    """DepthwiseConv2D: ``kernel`` (kh, kw, C, M) -> (n, OH, OW, C*M), output channel ``c*M + m``."""
    kh, kw, c, m = kernel.shape
    win = windows(x, (kh, kw), strides, dilation, padding, 0.0)
    n, oh, ow = win.shape[:3]
    y = np.einsum("nhwijc,ijcm->nhwcm", win, kernel.astype(x.dtype)).reshape(n, oh, ow, c * m)
    y += bias.astype(x.dtype)
    return np.asarray(y)


def pool2d(
    x: npt.NDArray[Any],
    size: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
    op: str,
) -> npt.NDArray[Any]:
    """MaxPooling2D / AveragePooling2D (the average over the window's real, unpadded, elements)."""
    one = (1, 1)
    if op == "max":
        return np.asarray(windows(x, size, strides, one, padding, -np.inf).max(axis=(3, 4)))
    win = windows(x, size, strides, one, padding, 0.0)
    cnt = windows(np.ones((1, *x.shape[1:3], 1)), size, strides, one, padding, 0.0).sum(axis=(3, 4))
    return np.asarray(win.sum(axis=(3, 4)) / cnt.astype(x.dtype))


def count_table(size: int, k: int, stride: int, padding: str) -> npt.NDArray[np.int64]:
    """Per output position of one axis, how many real (unpadded) elements its pooling window covers."""
    out, before, _ = out_size(size, k, stride, 1, padding)
    starts = np.arange(out) * stride - before
    lo = np.maximum(starts, 0)
    hi = np.minimum(starts + k, size)
    return np.asarray(hi - lo, dtype=np.int64)
