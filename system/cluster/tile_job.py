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
``rows·cols·e_cell + rows·e_row + cols·e_col``. Latency is the ADC's conversion time
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


@dataclass
class TileJobModel:
    rows: int
    cols: int
    t_conv_s: float
    e_cell_j: float
    e_row_j: float
    e_col_j: float
    source: str = ""

    def latency_s(self, rows: int, cols: int) -> float:
        return self.t_conv_s

    def energy_j(self, rows: int, cols: int) -> float:
        return rows * cols * self.e_cell_j + rows * self.e_row_j + cols * self.e_col_j

    def summary(self) -> dict[str, float]:
        full = self.energy_j(self.rows, self.cols)
        return {"latency_s": self.t_conv_s, "latency_published_s": T_MVM_PUBLISHED_S,
                "energy_full_job_j": full, "array_j": self.rows * self.cols * self.e_cell_j,
                "dac_j": self.rows * self.e_row_j, "adc_j": self.cols * self.e_col_j,
                "tops_per_w": 2 * self.rows * self.cols / full / 1e12}

    @classmethod
    def from_tile_model(cls, model: Any, source: str = "", config: ArrayConfig | None = None,
                        seed: int = 0, size: int = TILE) -> TileJobModel:
        """Per-unit energies from a 256x256 reference MVM. With ``config`` the PWM LSB,
        bits and ADC window are the config's (else the fitted window); ``size``: the
        crossbar the job model describes (energies per cell / line carry over)."""
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
        return cls(size, size, window, e_array / (TILE * TILE), e_row, e_col, source)


def load_tile_job_model(path: str | Path) -> TileJobModel:
    """A :class:`TileJobModel` from a tile-model file; RuntimeError naming the problem."""
    from aimc.surrogate.tile_model import TileModelError, load_tile_model

    try:
        model = load_tile_model(path)
    except TileModelError as e:
        raise RuntimeError(f"cannot use tile model {str(path)!r}: {e}") from None
    return TileJobModel.from_tile_model(model, str(path))
