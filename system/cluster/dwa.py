"""Cycle model of the depth-wise digital accelerator (seed 001, Sec. IV-C, Fig. 4-5).

Weight-stationary, 3x3 kernels, 16 channels at a time, HWC layout, 16 B/cycle to TCDM.
Per 16-channel block: the 3x3x16 weights are preloaded; for each output column the window
buffer is filled with the first 3x3 window; then an inner loop of 4 cycles per output pixel
(3 LD cycles bring one new input row of 3 pixels x 16 channels, the MAC stage handles
4 channels = 36 MACs each cycle, ST streams the 16 results in the 4th cycle) slides the
window down. With stride s the window needs s new rows (3*s loads) per output pixel.
The published average (29.7 MAC/cycle on MobileNetV2) is a *prediction* of this model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aimc.system.networks.graph import DWCONV, Layer


@dataclass
class DwaConfig:
    channels: int = 16  # seed 001 Sec. IV-C: 16 channels at a time
    kernel: int = 3  # 3x3 kernels only
    multipliers: int = 36  # 3x3x4 block per cycle
    bus_bytes: int = 16  # 16 bytes per cycle
    column_overhead_cycles: int = 3  # assumption: LD->MAC->ST pipeline fill per output column
    config_cycles: int = 100  # assumption: cores program ~20 HWPE registers per layer
    area_mm2: float = 0.0525  # seed 001 Fig. 6(b): 2.1 % of the 2.5 mm^2 cluster
    power_w: float = 2.0e-3  # assumption: 36 MACs + buffers at 0.8 V / 500 MHz (~ half a core)

    def validate(self) -> None:
        if self.channels < 1 or self.kernel < 1 or self.multipliers < 1 or self.bus_bytes < 1:
            raise ValueError("depth-wise accelerator sizes must be positive")


def supports(layer: Layer, cfg: DwaConfig) -> bool:
    return layer.kind == DWCONV and layer.kh == layer.kw == cfg.kernel


def dwa_cycles(layer: Layer, cfg: DwaConfig) -> int:
    """Cycles for a depth-wise layer on the accelerator (configuration excluded)."""
    if not supports(layer, cfg):
        raise ValueError(f"layer {layer.name!r} is not a {cfg.kernel}x{cfg.kernel} depth-wise conv")
    k = cfg.kernel
    blocks = math.ceil(layer.cout / cfg.channels)
    pix_bytes = cfg.channels  # one pixel of 16 channels, 8-bit
    loads_per_pixel = math.ceil(pix_bytes / cfg.bus_bytes)
    weight_load = math.ceil(k * k * cfg.channels / cfg.bus_bytes)
    mac_cycles = math.ceil(k * k * cfg.channels / cfg.multipliers)  # 4
    ld_cycles = layer.stride * k * loads_per_pixel  # new rows of the sliding window
    st_cycles = math.ceil(cfg.channels / cfg.bus_bytes)
    # LD and ST share the memory port; MAC overlaps both
    per_out = max(mac_cycles, ld_cycles + st_cycles)
    per_column = k * k * loads_per_pixel + cfg.column_overhead_cycles + layer.h_out * per_out
    return blocks * (weight_load + layer.w_out * per_column)


def dwa_bytes(layer: Layer) -> int:
    """TCDM bytes moved by a depth-wise layer on the accelerator: per output column a
    kw-pixel-wide strip of the input, the outputs once, the weights once."""
    in_reads = layer.w_out * layer.kw * layer.h_in * layer.cin
    return in_reads + layer.out_elems + layer.weight_count
