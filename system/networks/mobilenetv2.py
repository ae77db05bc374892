"""Built-in MobileNetV2, defined from its published architecture table.

Source: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
Table 2 (t = expansion, c = output channels, n = repeats, s = first stride). ImageNet input
224x224x3; width multiplier 1.0 gives ~300 M multiply-adds and ~3.4 M parameters (paper Table 3).
This is also the network of seed 001, Sec. VI.
"""

from __future__ import annotations

from aimc.system.networks.graph import ADD, CONV, DWCONV, FC, POOL, Layer, Network, conv_out

#: (t, c, n, s) rows of MobileNetV2 Table 2 (Sandler et al. 2018)
ARCH_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32  # first 3x3 conv, stride 2 (Table 2)
LAST_CHANNELS = 1280  # final 1x1 conv (Table 2)


def _divisible(v: float, divisor: int = 8) -> int:
    """Channel rounding used by the reference implementation for width multipliers."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def mobilenetv2(width: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> Network:
    """MobileNetV2 as a list of layers (conv1, 17 bottlenecks, last 1x1 conv, pool, FC)."""
    if width <= 0:
        raise ValueError(f"width multiplier must be positive, got {width}")
    if resolution < 32:
        raise ValueError(f"resolution must be at least 32, got {resolution}")
    layers: list[Layer] = []
    c_stem = _divisible(STEM_CHANNELS * width)
    h = conv_out(resolution, 3, 2, 1)
    layers.append(Layer("conv1", CONV, 3, c_stem, resolution, resolution, h, h,
                        kh=3, kw=3, stride=2))
    prev, c = "conv1", c_stem
    b = 0
    for t, c_out_base, n, s in ARCH_TABLE:
        c_out = _divisible(c_out_base * width)
        for i in range(n):
            b += 1
            stride = s if i == 0 else 1
            block_in, hidden = prev, c * t
            h_in = h
            if t != 1:
                layers.append(Layer(f"b{b}_expand", CONV, c, hidden, h, h, h, h, inputs=[prev]))
                prev = f"b{b}_expand"
            h_out = conv_out(h, 3, stride, 1)
            layers.append(
                Layer(f"b{b}_dw", DWCONV, hidden, hidden, h, h, h_out, h_out, kh=3, kw=3,
                      stride=stride, groups=hidden, inputs=[prev])
            )
            layers.append(
                Layer(f"b{b}_project", CONV, hidden, c_out, h_out, h_out, h_out, h_out,
                      inputs=[f"b{b}_dw"])
            )
            prev = f"b{b}_project"
            if stride == 1 and c == c_out:
                layers.append(
                    Layer(f"b{b}_add", ADD, c_out, c_out, h_out, h_out, h_out, h_out,
                          inputs=[block_in, prev])
                )
                prev = f"b{b}_add"
            del h_in
            h, c = h_out, c_out
    c_last = _divisible(LAST_CHANNELS * max(1.0, width))
    layers.append(Layer("conv_last", CONV, c, c_last, h, h, h, h, inputs=[prev]))
    layers.append(Layer("pool", POOL, c_last, c_last, h, h, 1, 1, kh=h, kw=h, inputs=["conv_last"]))
    layers.append(Layer("fc", FC, c_last, num_classes, 1, 1, 1, 1, inputs=["pool"]))
    return Network(f"mobilenetv2_{width:g}_{resolution}", layers, (3, resolution, resolution))


def bottleneck_layers(net: Network, block: int) -> list[Layer]:
    """The layers of bottleneck ``block`` (1-based) of a built network."""
    pre = f"b{block}_"
    return [layer for layer in net.layers if layer.name.startswith(pre)]
