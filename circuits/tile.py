"""Tile generator: PWM DAC lines -> crossbar -> CCO-ADCs in one transient netlist.

The end-to-end ground truth for small arrays (8x8 .. 32x32): every input line is
driven by a PWM driver (``aimc.circuits.dac``), every output line ends in a
transistor-level CCO-ADC (``aimc.circuits.adc``) whose regulator holds it at v_cm,
and the counts are read from the simulated toggles. A 0 V sense source between each
output line and its ADC records the line current, so the analog charge can be
checked separately from the conversion.

Sign convention: as in ``aimc.circuits.crossbar`` — positive current flows from the
ADC *into* the output line (positive input x positive weight). The ADC's own sign
output reads current into its input as positive, so tile counts are the negated
ADC counts.

:func:`segment_charges` is the decomposition the rest of the toolkit relies on: under
PWM the charge of each output line is a sum of crossbar operating points over the
segments between sorted pulse ends (exact for non-linear devices, ignoring edges
and line dynamics); the tile transient is what proves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from aimc.circuits import adc as adc_mod
from aimc.circuits import crossbar as xb
from aimc.circuits.adc import CcoAdcConfig
from aimc.circuits.dac import PwmDacConfig, add_dac_rails, add_pwm_driver
from aimc.circuits.netlist import Design
from aimc.circuits.safety import check_positive
from PySpice.Spice.Netlist import Circuit


@dataclass
class TileConfig:
    """A tile: crossbar electrical parameters, the DAC and the ADC designs.

    The crossbar's ``r_driver_ohm`` is ignored (the DAC's output resistance takes
    its place) and its regulator is the ADC's front end. ``v_cm_v``/``v_read_v``
    of the three parts must agree (checked).
    """

    crossbar: xb.CrossbarConfig
    dac: PwmDacConfig = field(default_factory=PwmDacConfig)
    adc: CcoAdcConfig = field(default_factory=CcoAdcConfig)
    t_step_s: float | None = None      # default: the ADC's step

    def __post_init__(self) -> None:
        c, d, a = self.crossbar, self.dac, self.adc
        if not (abs(c.v_cm_v - d.v_cm_v) < 1e-12 and abs(c.v_cm_v - a.v_cm_v) < 1e-12):
            raise ValueError(f"v_cm_v differs: crossbar {c.v_cm_v}, DAC {d.v_cm_v}, "
                             f"ADC {a.v_cm_v}")
        if abs(c.v_read_v - d.v_read_v) > 1e-12:
            raise ValueError(f"v_read_v differs: crossbar {c.v_read_v}, DAC {d.v_read_v}")
        if abs(d.vdd_v - a.vdd_v) > 1e-12:
            raise ValueError(f"vdd_v differs: DAC {d.vdd_v}, ADC {a.vdd_v}")
        if c.mosfets != a.mosfets or c.mosfets != d.mosfets:
            raise ValueError("crossbar, DAC and ADC must use the same MOSFET models")
        if self.t_step_s is not None:
            check_positive(self.t_step_s, "t_step_s")

    def op_config(self) -> xb.CrossbarConfig:
        """The crossbar as its operating points see it: the DAC's output resistance
        as the driver resistance, an ideal regulator at v_cm."""
        return replace(self.crossbar, r_driver_ohm=self.dac.r_out_ohm, regulator="ideal")

    @property
    def step_s(self) -> float:
        return self.t_step_s if self.t_step_s is not None else self.adc.t_step_s


def physical_codes(cfg: xb.CrossbarConfig, codes: np.ndarray) -> np.ndarray:
    """Code of every physical input line (HERMES: the complementary line is negated)."""
    codes = np.asarray(codes, dtype=int)
    if cfg.encoding == "hermes":
        out = np.empty(2 * cfg.rows, dtype=int)
        out[0::2], out[1::2] = codes, -codes
        return out
    return codes


def tile_design(tile: TileConfig, conductances: np.ndarray, codes: np.ndarray) -> Design:
    """One transient netlist of the whole tile for signed input ``codes``."""
    cfg = tile.crossbar
    g = xb.check_conductances(cfg, conductances)
    codes = xb.check_codes(cfg, codes, tile.dac.n_bits)
    gp = xb.physical_conductances(cfg, g)
    _, rp, cp = cfg.physical_shape

    circuit = Circuit(f"{cfg.name}_tile")
    circuit.raw_spice = "\n".join(cfg.mosfets.spice_lines() + xb.array_lines(cfg, gp))
    circuit.subcircuit(adc_mod.cco_adc_subcircuit(tile.adc))
    if cfg.cell == "1T1R":
        circuit.V("wl", "wl", circuit.gnd, cfg.v_wordline_v)
    rails = add_dac_rails(circuit, tile.dac)
    energy_sources: dict[str, str | None] = {}
    for r, code in enumerate(physical_codes(cfg, codes)):
        handle = add_pwm_driver(circuit, tile.dac, int(code), f"d{r}", f"r{r}", rails)
        energy_sources.update(handle.sources)
    # the ADCs' own supply (separate from the DAC's, so energies are apportioned)
    circuit.V("adc_dd", "vdda", circuit.gnd, tile.adc.vdd_v)
    ics: dict[str, float] = {}
    for c in range(cp):
        circuit.V(f"s{c}", f"a{c}", f"o{c}", 0)          # current into the line
        circuit.X(f"adc{c}", tile.adc.name, f"a{c}", "vdda", circuit.gnd, f"out{c}",
                  f"sgn{c}")
        ics.update(adc_mod.initial_conditions(tile.adc, f"xadc{c}"))
    step = tile.step_s
    t_stop = tile.dac.t_stop_s
    saves = (["time", "vadc_dd#branch"] + [f"vs{c}#branch" for c in range(cp)]
             + [f"v(out{c})" for c in range(cp)] + [f"v(sgn{c})" for c in range(cp)]
             + [f"v(a{c})" for c in range(cp)])
    saves += [f"{name}#branch" for name in rails.sources] + [
        f"{name}#branch" for name in energy_sources]
    saves += [f"v({node})" for node in energy_sources.values() if node]
    options = [f".options temp={tile.adc.temperature_c:.6g} tnom=27", ".options method=gear",
               adc_mod.ic_line(ics)]
    meta = {"kind": "tile", "t_stop_s": t_stop, "window_start_s": tile.dac.t_start_s,
            "energy_sources": energy_sources, "rail_sources": list(rails.sources)}
    return Design(circuit, f".tran {step:.6e} {t_stop:.6e} 0 {step:.6e}", saves, meta,
                  options)


@dataclass
class TileResult:
    """Outcome of one tile transient.

    ``counts``: signed ADC counts per logical output (sign convention of the module);
    ``q_out_c``: charge into each logical output line over the run (C);
    ``energy_adc_j``: energy drawn from the ADC supply; ``energy_dac_j``: energy
    delivered by the DAC (behavioral pulse sources: relative to v_cm, i.e. the joule
    heat of the array they drive; inverter drivers: drawn from their rails);
    ``line_error_v``: largest excursion of an output line from v_cm (the regulators'
    error).
    """

    counts: np.ndarray
    counts_phys: np.ndarray
    q_out_c: np.ndarray
    q_phys_c: np.ndarray
    energy_adc_j: float
    energy_dac_j: float
    line_error_v: float
    sim_time_s: float


def simulate_tile(tile: TileConfig, conductances: np.ndarray, codes: np.ndarray,
                  timeout_s: float = 1800.0) -> TileResult:
    design = tile_design(tile, conductances, codes)
    res = design.simulate(timeout_s)
    cfg = tile.crossbar
    _, _, cp = cfg.physical_shape
    t = res["time"]
    vdd = tile.adc.vdd_v
    counts = np.empty(cp, dtype=int)
    q = np.empty(cp)
    err = 0.0
    for c in range(cp):
        counts[c] = -adc_mod.count_toggles(t, res[f"v(out{c})"], t[-1], vdd,
                                           v_sign=res[f"v(sgn{c})"])
        q[c] = np.trapezoid(res[f"vs{c}#branch"], t)
        err = max(err, float(np.max(np.abs(res[f"v(a{c})"] - cfg.v_cm_v))))
    e_adc = float(-vdd * np.trapezoid(res["vadc_dd#branch"], t))
    e_dac = 0.0
    for name, node in design.meta["energy_sources"].items():
        v = res[f"v({node})"] if node else None
        i = res[f"{name}#branch"]
        if v is not None:
            # a pulse source is its own reference: count what it delivers
            # relative to v_cm (the joule heat of the cells and wires it drives)
            e_dac += float(-np.trapezoid((v - tile.dac.v_cm_v) * i, t))
    levels = {"vdac_cm": tile.dac.v_cm_v, "vdac_lo": tile.dac.v_low_v,
              "vdac_hi": tile.dac.v_high_v, "vdac_dd": tile.dac.vdd_v}
    for name in design.meta["rail_sources"]:
        e_dac += float(-levels[name] * np.trapezoid(res[f"{name}#branch"], t))
    return TileResult(xb.combine_outputs(cfg, counts), counts, xb.combine_outputs(cfg, q), q,
                      e_adc, e_dac, err, res.sim_time_s)


def pwm_segments(codes: np.ndarray, t_lsb_s: float) -> list[tuple[np.ndarray, float]]:
    """Split a PWM input into constant segments: ``(x, duration_s)`` pairs where
    ``x`` in {-1, 0, 1} per row is the drive during the segment. Segment k lasts
    from the k-th to the (k+1)-th distinct pulse end (rows drop out as pulses end).
    """
    codes = np.asarray(codes, dtype=int)
    mags = np.abs(codes)
    ends = np.unique(mags[mags > 0])
    out = []
    start = 0
    for end in ends:
        x = np.where(mags >= end, np.sign(codes), 0).astype(float)
        out.append((x, (end - start) * t_lsb_s))
        start = end
    return out


def segment_charges(cfg: xb.CrossbarConfig, conductances: np.ndarray, codes: np.ndarray,
                    t_lsb_s: float = 1e-9) -> np.ndarray:
    """Output-line charge (C, physical lines) of a PWM input from crossbar operating
    points, one per segment between sorted pulse ends (SPICE, ideal v_cm)."""
    _, _, cp = cfg.physical_shape
    q = np.zeros(cp)
    for x, dt in pwm_segments(codes, t_lsb_s):
        q += xb.simulate_op(cfg, conductances, x).i_phys_a * dt
    return q
