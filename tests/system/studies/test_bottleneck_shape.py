"""The Bottleneck's shape constraints (seed 001 Sec. V-C) by hand, the shape sensitivity,
and the linear feasibility check of the 11 published Bottleneck ratios."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from aimc.system.studies.bottleneck_shape import BottleneckShape, constraints, sensitivity

REPO = Path(__file__).resolve().parents[3]


def test_constraints_by_hand():
    s = BottleneckShape()                      # 28x28, 32 -> 192 -> 32
    w = 32 * 192 + 9 * 192 + 192 * 32          # 14,016 real weights
    assert s.weights == w
    assert s.tcdm_bytes == w + 784 * (32 + 2 * 192 + 32) == 365_248
    c = {x.name: x for x in constraints(s)}
    assert c["more_locations"].value == pytest.approx((9 * 192 ** 2 - 9 * 192) / w)  # 23.5x
    assert c["extra_devices"].value == pytest.approx(9 * 192 * 15 / w)               # +185 %
    assert c["dw_share"].value == pytest.approx(9 * 192 / w)                         # 12.3 %
    assert [x.met for x in c.values()] == [True, True, True, False, False]
    # a shape that meets the text's device overheads and ~4 % (in + out = 224 channels)
    t = {x.name: x for x in constraints(BottleneckShape(28, 112, 128, 112))}
    w2 = 2 * 112 * 128 + 9 * 128
    assert t["extra_devices"].text == (f"+{100 * 9 * 128 * 7 / w2:.0f} % / "
                                       f"+{100 * 9 * 128 * 15 / w2:.0f} %")
    assert [x.met for x in t.values()] == [True, True, False, True, True]


def test_shape_sensitivity_of_the_bottleneck_rows():
    shipped, text = sensitivity([BottleneckShape(), BottleneckShape(28, 112, 128, 112)])
    assert (shipped.within, shipped.rows) == (11, 15)
    # the shape that meets the text puts IMA+DW performance far below the paper
    assert text.perf_ima_dw_err_pct < -20 and text.within < shipped.within


def _feasibility():
    # the script imports its folder's bench_env, as it does when run as a script
    bench = str(REPO / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(
        "bottleneck_feasibility", REPO / "benchmarks" / "bottleneck_feasibility.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_feasibility_of_the_published_ratios():
    fz = _feasibility()
    assert fz.N_RATIOS == 11
    # model A (one IMA power): c_job=8 alone bounds P_I <= (1.23*1.02)/(0.813*0.98) ~ 1.57
    # at r = 0, while HYBRID vs IMA+DW needs P_I >= 1 + 0.066/0.0887 ~ 1.74: infeasible
    for p_i in (1.2, 1.5, 1.7, 2.0, 3.0):
        assert fz.share_range(p_i, 0.2, 0.02, "A") is None
    # model B (the IMA's depth-wise jobs at their own power): a feasible point, and its
    # HYBRID depth-wise share is above aimc's 70 %
    lo, hi = fz.share_range(4.0, 0.2, 0.02, "B")
    assert 0.75 < lo <= hi < 1.0
    # the DWA must draw well below the cores: at P_DWA = P_cores nothing is feasible
    assert all(fz.share_range(p, 1.0, 0.02, "B") is None for p in (2.0, 4.0, 8.0))
