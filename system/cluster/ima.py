"""The in-memory accelerator (IMA): a 256x256 PCM crossbar inside an HWPE with streamers.

Timing (seed 001, Sec. IV-B, Fig. 3): one *job* is one MVM. It has three phases,
STREAM-IN (inputs from TCDM through the data interface), COMPUTE (the analog MVM, a fixed
time that does not depend on the cluster clock), STREAM-OUT (ADC results back to TCDM).
*sequential*: the phases of a job run one after the other; *pipelined*: stream-in of job
i+1 and stream-out of job i-1 overlap the compute of job i, and both streams share the one
data interface (its ports are multiplexed, Sec. IV-A), so a job takes
max(compute, stream-in + stream-out).

The per-job latency and energy of the analog part come from an :class:`ImaJobModel`.
:class:`PaperImaJobModel` uses the published HERMES figures scaled to 22 nm the way seed 001
does; a tile model fitted on SPICE data (``aimc.surrogate``) can replace it through
:func:`load_tile_model`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# ---- published anchors ----------------------------------------------------------------------
HERMES_TOPS_PER_W = 10.5  # FACTS.md, HERMES core (Khaddam-Aljameh et al., JSSC 2022)
HERMES_AREA_MM2 = 0.635  # FACTS.md, HERMES core MVM area (14 nm)
IMA_AREA_MM2 = 0.83  # FACTS.md / seed 001 Sec. VI: one IMA in 22 nm
T_MVM_S = 130e-9  # FACTS.md / seed 001 Sec. V-B: MVM latency, kept constant at 22 nm
XBAR = 256  # FACTS.md: 256x256 crossbar

#: seed 001 Sec. V-A scales the measured 14 nm power to 22 nm by a*b^2, a the dimensional
#: scaling and b the voltage scaling; both nodes run the array at 0.8 V (FACTS.md), so b = 1.
#: We read a as the node ratio 22/14 (derived, not a fit). The other reading, the area
#: ratio 0.83/0.635 = 1.31, gives 16.3 nJ per job, and then no fit meets the paper's own
#: 6.39 TOPS/W and 482 uJ together (peak efficiency 12 % off, fixed job share driven to 0).
#: The published 0.83 mm^2 is used for area as printed.
DIM_SCALE_14_TO_22 = 22 / 14
E_JOB_FULL_J = 2 * XBAR * XBAR / (HERMES_TOPS_PER_W * 1e12) * DIM_SCALE_14_TO_22


@runtime_checkable
class ImaJobModel(Protocol):
    """Latency and energy of one MVM job using ``rows`` x ``cols`` of the crossbar."""

    rows: int
    cols: int

    def latency_s(self, rows: int, cols: int) -> float: ...

    def energy_j(self, rows: int, cols: int) -> float: ...


@dataclass
class PaperImaJobModel:
    """Per-job figures from the published HERMES core, scaled to 22 nm as in seed 001.

    Latency is the fixed 130 ns MVM. Energy at full utilisation is E_JOB_FULL_J (19.6 nJ);
    a partly used array spends a fixed share plus shares proportional to the active rows
    (PWM drivers), active columns (ADC regulators and counters idling) and active cells
    (array current, and the CCO charge packets it generates). The split is an assumption
    (documented in docs/readme/system.md) that the SPICE-fitted tile model replaces.
    """

    rows: int = XBAR
    cols: int = XBAR
    t_mvm_s: float = T_MVM_S
    e_full_j: float = E_JOB_FULL_J
    share_fixed: float = 0.1351  # calibrated (calibration.py): bias, references, control
    share_row: float = 0.1441  # assumption (0.15 of the rest): PWM drivers, per active row
    share_col: float = 0.2402  # assumption (0.25 of the rest): CCO-ADC idle, per column
    share_cell: float = 0.4806  # assumption (0.50 of the rest): array current, CCO toggles

    def __post_init__(self) -> None:
        total = self.share_fixed + self.share_row + self.share_col + self.share_cell
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"IMA energy shares must add up to 1, got {total}")
        if self.t_mvm_s <= 0 or self.e_full_j <= 0:
            raise ValueError("IMA t_mvm_s and e_full_j must be positive")

    def latency_s(self, rows: int, cols: int) -> float:
        return self.t_mvm_s

    def energy_j(self, rows: int, cols: int) -> float:
        fr, fc = rows / self.rows, cols / self.cols
        return self.e_full_j * (
            self.share_fixed + self.share_row * fr + self.share_col * fc + self.share_cell * fr * fc
        )


def load_tile_model(path: str) -> ImaJobModel:
    """Load a SPICE-fitted tile model (HDF5) through ``aimc.surrogate``.

    The surrogate package is expected to provide ``load_tile_model(path)`` returning an
    object with ``rows``, ``cols``, ``latency_s(rows, cols)`` and ``energy_j(rows, cols)``.
    """
    try:
        from aimc import surrogate
    except ImportError as exc:  # pragma: no cover - the namespace always exists in-tree
        raise RuntimeError("aimc.surrogate is not installed; cannot load a tile model") from exc
    loader = getattr(surrogate, "load_tile_model", None)
    if loader is None:  # the tile-model HDF5 format: per-MVM figures from its surrogates
        from aimc.system.cluster.tile_job import load_tile_job_model

        return load_tile_job_model(path)
    model = loader(path)
    if not isinstance(model, ImaJobModel) and getattr(model, "adc", None) is not None:
        from aimc.system.cluster.tile_job import TileJobModel

        model = TileJobModel.from_tile_model(model, str(path))
    if not isinstance(model, ImaJobModel):
        raise TypeError(f"tile model from {path!r} lacks rows/cols/latency_s/energy_j")
    return model


# ---- streamer / job timing ------------------------------------------------------------------
def stream_cycles(segment_bytes: int, n_segments: int, bus_bytes: int) -> int:
    """Cycles to move ``n_segments`` contiguous segments through a ``bus_bytes`` interface."""
    return n_segments * math.ceil(segment_bytes / bus_bytes)


@dataclass(frozen=True)
class JobTiming:
    stream_in: int
    compute: int
    stream_out: int
    per_job: int  # cycles between job starts in steady state, handshake included
    fill: int  # extra cycles once per run (pipeline fill/drain)


def job_timing(
    in_bytes_segments: tuple[int, int],
    out_bytes: int,
    bus_bytes: int,
    f_hz: float,
    t_mvm_s: float,
    pipelined: bool,
    handshake_cycles: int,
) -> JobTiming:
    """Cycle timing of one IMA job.

    ``in_bytes_segments`` is (segment length, number of segments) of the job's input in
    TCDM (HWC layout: one segment for a 1x1 conv, ``kh`` segments of ``kw*cin`` bytes for
    a virtual IM2COL window).
    """
    seg, nseg = in_bytes_segments
    t_in = stream_cycles(seg, nseg, bus_bytes)
    t_out = stream_cycles(out_bytes, 1, bus_bytes)
    # the analog MVM runs asynchronously to the cluster clock; the FSM sees its end on
    # the next clock edge
    t_cmp = math.ceil(t_mvm_s * f_hz - 1e-9)
    if pipelined:
        per_job = max(t_cmp, t_in + t_out) + handshake_cycles
        fill = t_in + t_out
    else:
        per_job = t_in + t_cmp + t_out + handshake_cycles
        fill = 0
    return JobTiming(t_in, t_cmp, t_out, per_job, fill)
