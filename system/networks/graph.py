"""Layer-level intermediate representation shared by the built-in networks and ONNX import.

A :class:`Network` is an ordered list of :class:`Layer` (topological order). Every layer
carries the shapes the cluster model needs (channels, kernel, stride, input/output feature
map) so its MAC count, crossbar footprint and data volumes follow from the shapes alone.
Activations are 8-bit (one byte per element), as in the modelled cluster (seed 001, Sec. III-A).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: layer kinds the mapper understands
CONV = "conv"  # standard or grouped convolution (groups < cin)
DWCONV = "dwconv"  # depth-wise convolution (groups == cin == cout)
FC = "fc"  # fully connected / matmul (1x1 on a 1x1 map)
ADD = "add"  # element-wise sum of two or more tensors (residual)
POOL = "pool"  # max/average pooling, global pooling
CONCAT = "concat"  # channel concatenation (a copy in TCDM)
RESHAPE = "reshape"  # flatten / reshape / channel-shuffle transpose (a copy or free)
ELTWISE = "eltwise"  # other element-wise work on the cores (e.g. softmax)

KINDS = (CONV, DWCONV, FC, ADD, POOL, CONCAT, RESHAPE, ELTWISE)


@dataclass
class Layer:
    """One layer. Shapes are (channels, height, width); batch is 1."""

    name: str
    kind: str
    cin: int
    cout: int
    h_in: int
    w_in: int
    h_out: int
    w_out: int
    kh: int = 1
    kw: int = 1
    stride: int = 1
    groups: int = 1
    inputs: list[str] = field(default_factory=list)
    #: for reshape-type layers: True when the op moves data (e.g. channel shuffle)
    moves_data: bool = False
    #: optional weight matrix in crossbar orientation (rows = cin/groups*kh*kw, cols = cout)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: the ONNX node the layer was imported from ("" for built-in networks)
    node: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: unknown kind {self.kind!r}")
        for attr in ("cin", "cout", "h_in", "w_in", "h_out", "w_out", "kh", "kw", "stride"):
            v = getattr(self, attr)
            if int(v) != v or v < 1:
                raise ValueError(
                    f"layer {self.name!r}: {attr} must be a positive integer, got {v!r}")
        if self.groups < 1 or self.cin % self.groups:
            raise ValueError(
                f"layer {self.name!r}: groups={self.groups} does not divide cin={self.cin}")

    # ---- derived quantities -------------------------------------------------------------
    @property
    def has_weights(self) -> bool:
        return self.kind in (CONV, DWCONV, FC)

    @property
    def is_pointwise(self) -> bool:
        """1x1 dense convolution or fully-connected layer: a plain MVM per output pixel."""
        return self.kind == FC or (
            self.kind == CONV and self.kh == self.kw == 1 and self.groups == 1)

    @property
    def out_pixels(self) -> int:
        return self.h_out * self.w_out

    @property
    def in_elems(self) -> int:
        return self.cin * self.h_in * self.w_in

    @property
    def out_elems(self) -> int:
        return self.cout * self.h_out * self.w_out

    @property
    def xbar_rows(self) -> int:
        """Crossbar rows for one group (IM2COL: cin/groups * kh * kw)."""
        return (self.cin // self.groups) * self.kh * self.kw

    @property
    def xbar_cols(self) -> int:
        """Crossbar columns for one group (cout/groups)."""
        return self.cout // self.groups

    @property
    def weight_count(self) -> int:
        if not self.has_weights:
            return 0
        return self.xbar_rows * self.cout

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (0 for layers without weights)."""
        if not self.has_weights:
            return 0
        return self.weight_count * self.out_pixels

    @property
    def ops(self) -> int:
        """Operations as counted in the paper: 2 per MAC."""
        return 2 * self.macs


@dataclass
class Network:
    name: str
    layers: list[Layer]
    input_shape: tuple[int, int, int]  # (C, H, W)

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"network {self.name!r}: duplicate layer names {dup}")

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def weight_count(self) -> int:
        return sum(layer.weight_count for layer in self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def summary(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for layer in self.layers:
            kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
        return kinds


def conv_out(size: int, k: int, stride: int, pad: int) -> int:
    """Output size of a convolution / pooling window."""
    return (size + 2 * pad - k) // stride + 1
