"""The IMA's digital periphery per job (tile_job.digital_periphery) by hand."""

from __future__ import annotations

import pytest
from aimc.system.cluster.tile_job import PeripheryConfig, digital_periphery


def test_periphery_counts_cell_events_by_hand():
    fj = 1e-15
    cells = {"dff_clock": 4 * fj, "dff_data": 6 * fj, "xor2": 2 * fj, "nand2": 1 * fj}
    rows, cols, counts = 256, 128, 100.0
    d = digital_periphery(rows, cols, counts, cells, vdd_v=0.8)
    # global 7-bit counter, 128 cycles: 7 clocked flops + 2 data changes per cycle
    counter = 128 * (7 * 4 + 2 * 2) * fj
    # counter bus: 256 rows x 4 um x 0.2 fF/um = 204.8 fF, 2 toggles per cycle, C V^2 / 2
    bus = 128 * 2 * 204.8e-15 * 0.64 / 2
    # per row: 2 XOR transitions per cycle + the SR latch (4 NAND2 transitions)
    compare = 256 * (128 * 2 * 2 + 4 * 1) * fj
    assert d["pwm_generators"] == pytest.approx(counter + bus + compare)
    # ripple counters: 2 flip-flop toggles per count, 128 columns of 100 counts
    assert d["adc_counters"] == pytest.approx(128 * 2 * 100 * 6 * fj)
    # 2 register stages x (256 x 8 + 128 x 8) bits x (clock + half the data energy)
    assert d["registers"] == pytest.approx(2 * (256 * 8 + 128 * 8) * (4 + 0.5 * 2) * fj)
    # 12-bit adder per column, half of its 2 XOR + 3 NAND per bit switching
    assert d["accumulation"] == pytest.approx(128 * 12 * 0.5 * (2 * 2 + 3 * 1) * fj)
    # no pipeline stage: registers halve
    half = digital_periphery(rows, cols, counts, cells, 0.8, PeripheryConfig(register_stages=1))
    assert half["registers"] == pytest.approx(d["registers"] / 2)
