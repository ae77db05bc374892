"""Software kernels on the cluster's RISC-V cores (PULP-NN style, 8-bit).

Each kernel is a per-core throughput; ``n`` cores scale it by Amdahl's law with a
serial fraction. Sources are given per field; the fitted ones name the figures they were fitted on
(calibration.py re-derives them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aimc.system.networks.graph import ADD, CONCAT, CONV, DWCONV, ELTWISE, FC, POOL, RESHAPE, Layer


@dataclass
class CoreKernels:
    """Per-core throughputs of the software kernels; n cores scale them by Amdahl's law."""

    serial_fraction: float = 0.05  # assumption: barriers, tiling loops, fork/join (Amdahl)
    #: 8-bit point-wise / standard conv / FC, MAC per cycle per core (PULP-NN kernels);
    #: calibrated on the Bottleneck CORES vs IMA ratios (seed 001 Fig. 9a)
    conv_mac_per_cycle: float = 1.119
    #: 8-bit depth-wise conv (CHW), MAC per cycle per core: seed 001 Sec. IV-C, the
    #: accelerator's 29.7 MAC/cycle is 26x the software (read here as one core) -> 29.7/26
    dw_mac_per_cycle: float = 29.7 / 26
    #: HWC<->CHW marshalling, bytes per cycle per core; calibrated on HYBRID (Fig. 9a)
    marshal_bytes_per_cycle: float = 0.489
    #: residual add with requantisation, output elements per cycle per core;
    #: assumption: 4 int8 lanes per SIMD op, ~4 instructions per 4 outputs
    add_elems_per_cycle: float = 1.0
    #: pooling / element-wise work, input elements per cycle per core; assumption as above
    pool_elems_per_cycle: float = 1.0
    #: plain copies (concat, channel shuffle), bytes per cycle per core (one 32-bit word)
    copy_bytes_per_cycle: float = 4.0
    #: cycles for a core to configure one accelerator run (register writes + trigger);
    #: assumption: ~20 HWPE registers x ~5 cycles per memory-mapped write
    accel_config_cycles: int = 100
    #: cycles per software layer for fork/join and the final barrier; assumption
    kernel_overhead_cycles: int = 200

    def validate(self) -> None:
        for name in ("conv_mac_per_cycle", "dw_mac_per_cycle", "marshal_bytes_per_cycle",
                     "add_elems_per_cycle", "pool_elems_per_cycle", "copy_bytes_per_cycle"):
            if getattr(self, name) <= 0:
                raise ValueError(f"cores.{name} must be positive")
        if not 0 <= self.serial_fraction < 1:
            raise ValueError("cores.serial_fraction must be in [0, 1)")
        if self.accel_config_cycles < 0 or self.kernel_overhead_cycles < 0:
            raise ValueError("cores overhead cycles must be >= 0")


def speedup(n_cores: int, k: CoreKernels) -> float:
    """Throughput of ``n_cores`` cores relative to one core (Amdahl's law)."""
    return 1.0 / (k.serial_fraction + (1 - k.serial_fraction) / n_cores)


def core_cycles(layer: Layer, n_cores: int, k: CoreKernels) -> int:
    """Cycles for ``layer`` entirely in software on ``n_cores`` cores."""
    s = speedup(n_cores, k)
    if layer.kind in (CONV, FC):
        work = layer.macs / k.conv_mac_per_cycle
    elif layer.kind == DWCONV:
        work = layer.macs / k.dw_mac_per_cycle
    elif layer.kind == ADD:
        n_in = max(2, len(layer.inputs))
        work = layer.out_elems * (n_in - 1) / k.add_elems_per_cycle
    elif layer.kind in (POOL, ELTWISE):
        work = layer.in_elems / k.pool_elems_per_cycle
    elif layer.kind == CONCAT:
        work = layer.out_elems / k.copy_bytes_per_cycle
    elif layer.kind == RESHAPE:
        work = layer.out_elems / k.copy_bytes_per_cycle if layer.moves_data else 0.0
    else:  # pragma: no cover - Layer validates kinds
        raise ValueError(layer.kind)
    if work == 0:
        return 0
    return math.ceil(work / s) + k.kernel_overhead_cycles


def marshal_cycles(n_bytes: int, n_cores: int, k: CoreKernels) -> int:
    """Cycles to convert ``n_bytes`` between HWC and CHW layouts in software."""
    if n_bytes <= 0:
        return 0
    return math.ceil(n_bytes / k.marshal_bytes_per_cycle / speedup(n_cores, k))


def partial_sum_cycles(n_elems: int, n_cores: int, k: CoreKernels) -> int:
    """Cycles to add partial sums of a layer split over several crossbar row tiles."""
    if n_elems <= 0:
        return 0
    return math.ceil(n_elems / k.add_elems_per_cycle / speedup(n_cores, k))
