"""IM2COL unrolling of convolutions and pooling windows (NCHW, ONNX semantics).

A 2-D convolution of ``x`` (N, C, H, W) with a kernel (kh, kw), strides, dilations and
pads becomes one matrix-vector product per output pixel: the IM2COL row of an output
pixel holds the input window in (channel, kernel row, kernel column) order, which is the
order of ``W.reshape(cout, -1)`` for an ONNX weight ``W`` (cout, cin/groups, kh, kw), so
``im2col(x) @ W.reshape(cout, -1).T`` is the convolution (one group).

``pool_windows`` gives the same sliding windows for pooling over any number of spatial
dimensions, padded with a fill value (``-inf`` for max pooling, NaN to mark padding for
average pooling without padded elements in the count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def resolve_pads(auto_pad: str, in_sizes: Sequence[int], kernel: Sequence[int],
                 strides: Sequence[int], dilations: Sequence[int],
                 pads: Sequence[int] | None, ceil_mode: bool = False
                 ) -> tuple[list[int], list[int], list[int]]:
    """(pads_begin, pads_end, output sizes) of ONNX Conv/Pool attributes.

    ``pads`` is ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; ``auto_pad`` is
    NOTSET, VALID, SAME_UPPER or SAME_LOWER (the extra element of an odd pad goes to the
    end for SAME_UPPER, to the beginning for SAME_LOWER)."""
    nd = len(in_sizes)
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    begin, end, out = [0] * nd, [0] * nd, [0] * nd
    for i in range(nd):
        k_eff = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = math.ceil(in_sizes[i] / strides[i])
            total = max(0, (o - 1) * strides[i] + k_eff - in_sizes[i])
            small, big = total // 2, total - total // 2
            begin[i], end[i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
            out[i] = o
            continue
        if auto_pad == "VALID" or not pads:
            b = e = 0
        else:
            b, e = int(pads[i]), int(pads[i + nd])
        span = in_sizes[i] + b + e - k_eff
        if ceil_mode:
            o = math.ceil(span / strides[i]) + 1
            # a window must start inside the input or the begin padding
            if (o - 1) * strides[i] >= in_sizes[i] + b:
                o -= 1
        else:
            o = span // strides[i] + 1
        begin[i], end[i], out[i] = b, e, o
    return begin, end, out


def _windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int], begin: Sequence[int], end: Sequence[int],
             out: Sequence[int], fill: float) -> np.ndarray:
    """Windows (N, C, *out, *kernel) of x (N, C, *spatial) padded with ``fill``."""
    nd = len(kernel)
    spatial = x.shape[2:]
    # extra end padding so that every window of the output grid exists (ceil mode)
    extra = [max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                 - (spatial[i] + begin[i] + end[i])) for i in range(nd)]
    widths = [(0, 0), (0, 0)] + [(begin[i], end[i] + extra[i]) for i in range(nd)]
    if any(b or e for b, e in widths):
        xp = np.pad(x, widths, constant_values=fill)
    else:
        xp = x
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    win = sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
    sl = (slice(None), slice(None))
    sl += tuple(slice(0, (out[i] - 1) * strides[i] + 1, strides[i]) for i in range(nd))
    sl += tuple(slice(None, None, d) for d in dilations)
    return win[sl]


def im2col(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
           dilations: Sequence[int], begin: Sequence[int], end: Sequence[int],
           out: Sequence[int]) -> np.ndarray:
    """IM2COL rows (N·Ho·Wo, C·kh·kw) of a 2-D convolution input x (N, C, H, W), zero
    padded; rows in (n, oh, ow) order, columns in (c, i, j) order."""
    n, c = x.shape[:2]
    if all(k == 1 for k in kernel) and not any(begin) and not any(end) and all(
            (o - 1) * s + 1 <= size for o, s, size in zip(out, strides, x.shape[2:],
                                                           strict=True)):
        # 1x1: the rows are the pixels' channel vectors (strided), no window copy
        xs = x[:, :, :(out[0] - 1) * strides[0] + 1:strides[0],
               :(out[1] - 1) * strides[1] + 1:strides[1]]
        return np.ascontiguousarray(xs.transpose(0, 2, 3, 1)).reshape(n * int(np.prod(out)), c)
    win = _windows(x, kernel, strides, dilations, begin, end, out, 0.0)  # N,C,Ho,Wo,kh,kw
    k = int(np.prod(kernel))
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(
        n * int(np.prod(out)), c * k)


def pool_windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], begin: Sequence[int], end: Sequence[int],
                 out: Sequence[int], fill: float) -> np.ndarray:
    """Pooling windows (N, C, *out, prod(kernel)) of x (N, C, *spatial)."""
    win = _windows(x, kernel, strides, dilations, begin, end, out, fill)
    return win.reshape(*win.shape[:2 + len(kernel)], -1)
