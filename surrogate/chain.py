"""DAC -> crossbar -> ADC surrogates chained: one MVM of a tile from signed codes.

1. PWM DAC: each row's pulse lasts ``dac.pulse_duration(code)`` (the timing part of the
   DAC surrogate; the line's IR drop and device law are the crossbar model's job);
2. crossbar: the output-line current on every segment between sorted pulse ends
   (the operating point with the rows still driven), with the DAC's output
   resistance as the driver resistance;
3. CCO-ADC: ``count = Σ_segments f(i)·Δt`` with the ADC surrogate's f(i), which
   handles the stepped current as pulses end. The ADC's regulator holds the line off
   v_cm by its fitted error δ(i); the line current is corrected by Σ_r G·δ.

Sign convention as :mod:`aimc.circuits.tile`: positive current flows from the ADC into
the line and gives a positive count (the ADC sees the opposite current at its input).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from aimc.circuits.crossbar import CrossbarConfig, combine_outputs
from aimc.surrogate.adc_model import adc_key
from aimc.surrogate.dac_model import R_OUT_OHM
from aimc.surrogate.tile_model import TileModel


@dataclass
class ChainResult:
    counts: np.ndarray        # (B, cols) signed counts (float: the expected count)
    q_out_c: np.ndarray       # (B, cols) charge into the output lines (C)
    energy_array_j: np.ndarray  # (B,) read energy of the array, wires and drivers
    energy_adc_j: np.ndarray  # (B,) ADC energy (all columns)


def tile_mvm(model: TileModel, cfg: CrossbarConfig, g: np.ndarray, codes: np.ndarray,
             t_lsb_s: float = 1e-9, driver: str = "behavioral",
             adc: tuple[str, bool, float, float] = ("relaxation", True, 0.8, 27.0),
             window_s: float = 128e-9, r_out_ohm: float = R_OUT_OHM) -> ChainResult:
    """Counts of a batch of signed code vectors ``codes`` (B, rows)."""
    if model.crossbar is None or model.dac is None or model.adc is None:
        raise ValueError(f"the tile model needs crossbar, dac and adc surrogates; it has "
                         f"{', '.join(model.circuits)}")
    codes = np.atleast_2d(np.asarray(codes))
    xcfg = replace(cfg, r_driver_ohm=r_out_ohm, regulator="ideal")
    comp = model.crossbar.compile(xcfg, g)
    from aimc.circuits.crossbar import physical_conductances

    gp = physical_conductances(cfg, g).sum(axis=0)                   # (Rp, Cp)
    g_line = gp.sum(axis=1)[0::2] if cfg.encoding == "hermes" else gp.sum(axis=1)
    dur = model.dac.pulse_duration(driver, codes, gp.shape[1], g_line[None, :],
                                   cfg.r_wire_row_ohm, t_lsb_s)    # (B, rows)
    key = adc_key(*adc)
    counts = np.zeros((codes.shape[0], gp.shape[1]))      # physical output lines
    q_seg = np.zeros((codes.shape[0], gp.shape[1]))
    g_col = gp.sum(axis=0)
    for b in range(codes.shape[0]):
        ends = np.unique(dur[b][dur[b] > 0])
        if ends.size == 0:
            continue
        starts = np.concatenate([[0.0], ends[:-1]])
        x = np.sign(codes[b])[None, :] * (dur[b][None, :] >= ends[:, None])   # (S, rows)
        i_seg = comp.currents_phys(x)                                         # (S, Cp)
        # the ADC's regulator holds the line off v_cm by its error δ(i_adc): the cells
        # see δ less (one fixed-point step; ∂i/∂v_line = Σ_r G of the column)
        i_seg = i_seg + g_col[None, :] * model.adc.line_error(key, -i_seg)
        q_seg[b] = (i_seg * (ends - starts)[:, None]).sum(axis=0)
        # the ADC's input current is minus the line current; tile count = -ADC count
        counts[b] = -model.adc.count(key, -i_seg.T, (ends - starts)[None, :])
    q = combine_outputs(cfg, q_seg)
    counts = combine_outputs(cfg, counts)
    e_arr = comp.pwm_energy(codes, t_lsb_s, durations_s=dur)
    e_adc = np.array([float(np.sum(model.adc.energy(key, -q_seg[b], window_s)))
                      for b in range(q_seg.shape[0])])
    return ChainResult(counts, q, e_arr, e_adc)
