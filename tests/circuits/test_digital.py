"""Gate-level switching energy (aimc.circuits.digital) against hand calculations."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits.digital import DigitalConfig, cell_design, cell_energy


def test_inverter_energy_is_c_v_squared():
    """A transition that charges C_L draws C_L·V² from vdd (half stored, half burnt), the
    discharge draws nothing: C_L·V²/2 per transition on average. The slope between two
    loads removes the cell's own capacitance and short-circuit charge."""
    v = 0.8
    e = {c: cell_energy("inv", DigitalConfig(fanout=0, c_wire_f=c)).energy_j
         for c in (20e-15, 40e-15)}
    assert e[20e-15] == pytest.approx(20e-15 * v * v / 2, rel=0.06)
    assert (e[40e-15] - e[20e-15]) == pytest.approx(20e-15 * v * v / 2, rel=0.02)


def test_flip_flop_captures_and_costs_more_when_data_changes():
    p = DigitalConfig().period_s
    res = cell_design("dff_data").simulate()
    t, q = res["time"], res["v(y)"]
    # rising clock edges at p/2 + k p; D (period 2p, from p/4) is high at odd... edges
    after = [float(np.interp(p / 2 + k * p + 0.4 * p, t, q)) for k in range(5)]
    assert [round(x / 0.8) for x in after] == [1, 0, 1, 0, 1]
    e_clk = cell_energy("dff_clock").energy_j
    e_data = cell_energy("dff_data").energy_j
    assert 0 < e_clk < e_data < 10 * e_clk


def test_bad_cell_and_config():
    with pytest.raises(ValueError, match="unknown cell"):
        cell_design("nand3")
    with pytest.raises(ValueError, match="t_edge_s"):
        DigitalConfig(t_edge_s=0.6e-9)
