"""IMA job latency and energy from a SPICE-fitted tile model (``aimc eval --tile``).

:class:`TileJobModel` implements :class:`aimc.system.cluster.ima.ImaJobModel` from the surrogates
of a tile-model HDF5 file. One *reference MVM* on a full tile — uniformly random 4-bit
weights on HERMES cells and uniformly random signed 8-bit PWM inputs, seeded — is run
through the surrogates once; it gives three per-unit energies:

* ``e_cell_j``: read energy of the array, wires and drivers (crossbar surrogate
  ``pwm_energy``) per active cell (rows x cols);
* ``e_row_j``: PWM DAC switching energy per input line and conversion (DAC surrogate
  with the line's cell load removed, so the array's share is not counted twice);
* ``e_col_j``: CCO-ADC energy per output line and conversion (ADC surrogate, static
  power over the window + charge term, at the reference MVM's line charges).

A job using ``rows`` x ``cols`` of the crossbar costs
``rows·cols·e_cell + rows·e_row + cols·e_col`` in its analog blocks, plus the digital
periphery (:func:`digital_periphery`): PWM generation, the ADCs' ripple counters, input and
output registers and the per-column accumulation, composed from the switching energies of
transistor-level cells that ngspice measures on the same MOSFET cards
(:mod:`aimc.circuits.digital`). Latency is the ADC's conversion time
(the integration window the surrogate was fitted at; HERMES: 128 ns of PWM, published
MVM latency about 130 ns, FACTS.md) — both are printed by ``aimc eval --tile``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aimc.system.array.layer import TILE, ArrayConfig, pick_adc_key

T_MVM_PUBLISHED_S = 130e-9   # FACTS.md: HERMES MVM latency about 130 ns
#: HERMES 10.5 TOPS/W scaled to 22 nm as seed 001 does (ima.E_JOB_FULL_J): 19.6 nJ per job
HERMES_TOPS_PER_W = 10.5


@dataclass(frozen=True)
class PeripheryConfig:
    """The IMA's digital periphery, per MVM job. Architecture assumptions (not published
    in this detail), each a plain count of cell events:

    * PWM generation (HERMES: sign + 7-bit magnitude, 1 ns/LSB): one global 7-bit counter
      clocked ``pwm_cycles`` times; its bits run along the rows on a bus of
      ``row_pitch_m`` x ``c_wire_f_per_m`` per row; each row compares its code with the
      counter (7 XOR2, whose outputs follow the counter: ``counter_toggles`` per cycle)
      and ends its pulse in an SR latch (2 NAND2, set and reset once per job);
    * ADC counters (HERMES: ripple up/down counters on the CCO output): a ripple counter
      toggles about 2 flip-flops per count;
    * registers: ``bits_in`` per row and ``bits_out`` per column, doubled by the pipelined
      execution model's extra register stage (seed 001 Sec. IV-B), half the bits
      changing per job;
    * accumulation: a ``counter_bits`` ripple-carry adder per column (up minus down count
      and offset), 2 XOR2 + 3 NAND2 per bit, half of them switching.
    """

    pwm_cycles: int = 128
    counter_bits: int = 12
    code_bits: int = 7
    counter_toggles: float = 2.0      # bits of a binary counter that change per increment
    bits_in: int = 8
    bits_out: int = 8
    register_stages: int = 2          # pipelined IMA: an extra stage before and after
    activity: float = 0.5
    row_pitch_m: float = 4e-6         # HERMES column pitch (dac.md's cell pitch)
    c_wire_f_per_m: float = 0.2e-15 / 1e-6   # dac.md's assumed 0.2 fF/µm


def digital_periphery(rows: int, cols: int, counts_per_col: float, cells: dict[str, float],
                      vdd_v: float = 0.8, cfg: PeripheryConfig | None = None
                      ) -> dict[str, float]:
    """Energy (J) per job of each digital block, from per-cell energies ``cells``
    (:func:`aimc.circuits.digital.cell_energies`: J per transition / per clock cycle)."""
    c = cfg or PeripheryConfig()
    e_clk, e_data = cells["dff_clock"], cells["dff_data"]
    e_xor, e_nand = cells["xor2"], cells["nand2"]
    c_bus = rows * c.row_pitch_m * c.c_wire_f_per_m
    counter = c.pwm_cycles * (c.code_bits * e_clk + c.counter_toggles * (e_data - e_clk))
    bus = c.pwm_cycles * c.counter_toggles * c_bus * vdd_v ** 2 / 2
    compare = rows * (c.pwm_cycles * c.counter_toggles * e_xor + 4 * e_nand)
    e_reg_bit = e_clk + c.activity * (e_data - e_clk)
    return {
        "pwm_generators": counter + bus + compare,
        "adc_counters": cols * 2 * counts_per_col * e_data,
        "registers": c.register_stages * (rows * c.bits_in + cols * c.bits_out) * e_reg_bit,
        "accumulation": cols * c.counter_bits * c.activity * (2 * e_xor + 3 * e_nand),
    }


@dataclass
class TileJobModel:
    rows: int
    cols: int
    t_conv_s: float
    e_cell_j: float
    e_row_j: float
    e_col_j: float
    source: str = ""
    counts_per_col: float = 0.0       # mean |ADC count| of the reference MVM
    cells: dict[str, float] | None = None   # cell energies (J); None: analog blocks only

    def latency_s(self, rows: int, cols: int) -> float:
        return self.t_conv_s

    def analog_j(self, rows: int, cols: int) -> float:
        return rows * cols * self.e_cell_j + rows * self.e_row_j + cols * self.e_col_j

    def digital_j(self, rows: int, cols: int) -> dict[str, float]:
        if self.cells is None:
            return {}
        return digital_periphery(rows, cols, self.counts_per_col, self.cells)

    def energy_j(self, rows: int, cols: int) -> float:
        return self.analog_j(rows, cols) + sum(self.digital_j(rows, cols).values())

    def summary(self) -> dict[str, float]:
        from aimc.system.cluster.ima import E_JOB_FULL_J

        full = self.energy_j(self.rows, self.cols)
        dig = self.digital_j(self.rows, self.cols)
        d = {"latency_s": self.t_conv_s, "latency_published_s": T_MVM_PUBLISHED_S,
             "energy_full_job_j": full, "array_j": self.rows * self.cols * self.e_cell_j,
             "dac_j": self.rows * self.e_row_j, "adc_j": self.cols * self.e_col_j,
             "analog_j": self.analog_j(self.rows, self.cols),
             "digital_j": sum(dig.values()), "counts_per_col": self.counts_per_col,
             "tops_per_w": 2 * self.rows * self.cols / full / 1e12,
             "published_job_j": E_JOB_FULL_J, "published_tops_per_w": HERMES_TOPS_PER_W}
        d.update({f"digital_{k}_j": v for k, v in dig.items()})
        return d

    @classmethod
    def from_tile_model(cls, model: Any, source: str = "", config: ArrayConfig | None = None,
                        seed: int = 0, size: int = TILE, digital: bool = True
                        ) -> TileJobModel:
        """Per-unit energies from a 256x256 reference MVM. With ``config`` the PWM LSB,
        bits and ADC window are the config's (else the fitted window); ``size``: the
        crossbar the job model describes (energies per cell / line carry over);
        ``digital``: add the periphery from ngspice runs of its cells
        (:func:`aimc.circuits.digital.cell_energies`)."""
        from aimc.circuits.crossbar import (
            CrossbarConfig,
            physical_conductances,
            weights_to_conductances,
        )

        if model.crossbar is None or model.adc is None:
            raise RuntimeError(f"tile model {source!r} lacks the crossbar or ADC surrogate "
                               "needed for IMA job latency/energy")
        c = config or ArrayConfig()
        rng = np.random.default_rng(seed)
        lv = c.w_levels
        w = np.rint(rng.uniform(-1, 1, (TILE, TILE)) * lv) / lv
        g = weights_to_conductances(w, c.encoding, c.g_max_s, c.g_min_s)
        codes = rng.integers(-c.x_levels, c.x_levels + 1, (16, TILE))
        xcfg = CrossbarConfig(rows=TILE, cols=TILE, encoding=c.encoding, device=c.device,
                              r_wire_row_ohm=c.r_wire_row_ohm, r_wire_col_ohm=c.r_wire_col_ohm,
                              r_driver_ohm=c.r_driver_ohm, v_read_v=c.v_read_v)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the array simulator reports the domain
            comp = model.crossbar.compile(xcfg, g)
            e_array = float(np.mean(comp.pwm_energy(codes, c.t_lsb_s)))
            q = comp.charges(codes, c.t_lsb_s)
        key = pick_adc_key(model.adc, c.adc_key)
        k = model.adc.keys_.index(key)
        window = float(model.adc.window_[k, 1]) if config is None else c.window_s
        e_col = float(np.mean(model.adc.energy(key, np.abs(q), window)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            counts = float(np.mean(np.abs(model.adc.count_dc(key, np.abs(q) / window,
                                                             window, policy="ignore"))))
        e_row = 0.0
        if model.dac is not None:
            drv = model.dac.drivers_[0]
            n_cells = physical_conductances(xcfg, g).shape[2]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # switching energy only: no cell load (the array read is e_cell's)
                u, count = np.unique(codes, return_counts=True)
                e_u = model.dac.energy(drv, u, n_cells, 0.0, c.r_wire_row_ohm,
                                       t_lsb_s=c.t_lsb_s, v_read_v=c.v_read_v)
                e_row = float(np.sum(e_u * count) / count.sum())
            if c.encoding == "hermes":
                e_row *= 2    # two physical lines (true and complement) per input
        cells = None
        if digital:
            from aimc.circuits.digital import cell_energies

            cells = cell_energies()
        return cls(size, size, window, e_array / (TILE * TILE), e_row, e_col, source,
                   counts, cells)


def load_tile_job_model(path: str | Path) -> TileJobModel:
    """A :class:`TileJobModel` from a tile-model file; RuntimeError naming the problem."""
    from aimc.surrogate.tile_model import TileModelError, load_tile_model

    try:
        model = load_tile_model(path)
    except TileModelError as e:
        raise RuntimeError(f"cannot use tile model {str(path)!r}: {e}") from None
    return TileJobModel.from_tile_model(model, str(path))
