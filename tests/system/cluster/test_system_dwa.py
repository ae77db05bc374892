from __future__ import annotations

import pytest
from aimc.system.cluster.dwa import DwaConfig, dwa_cycles
from aimc.system.networks.graph import CONV, DWCONV, Layer
from aimc.system.studies.experiments import dwa_average_mac_per_cycle


def test_dwa_cycles_by_hand():
    cfg = DwaConfig()
    lay = Layer("d", DWCONV, 32, 32, 8, 8, 8, 8, kh=3, kw=3, groups=32)
    # 2 blocks x (9 weight cycles + 8 columns x (9 window + 3 fill + 8 outputs x 4 cycles))
    assert dwa_cycles(lay, cfg) == 2 * (9 + 8 * (9 + 3 + 8 * 4))
    s2 = Layer("d2", DWCONV, 16, 16, 8, 8, 4, 4, kh=3, kw=3, stride=2, groups=16)
    # stride 2: 6 loads + 1 store per output
    assert dwa_cycles(s2, cfg) == 9 + 4 * (9 + 3 + 4 * 7)


def test_dwa_average_matches_paper():
    # seed 001 Sec. IV-C: 29.7 MAC/cycle on average (a prediction of the cycle model)
    assert dwa_average_mac_per_cycle() == pytest.approx(29.7, rel=0.10)
    # and never above the 36 multipliers
    assert dwa_average_mac_per_cycle() < 36


def test_dwa_rejects_other_layers():
    with pytest.raises(ValueError):
        dwa_cycles(Layer("c", CONV, 4, 4, 4, 4, 4, 4), DwaConfig())
