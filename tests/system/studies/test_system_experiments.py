from __future__ import annotations

import pytest
from aimc.system.studies import experiments as ex

#: figures whose error exceeds 10 % with the single parameter set; explained in
#: docs/readme/system.md (the published Bottleneck energy ratios are mutually inconsistent
#: under any per-block power model). A change in this list must update the README.
KNOWN_OUTLIERS = {"bn_eff_cjob8", "bn_eff_hybrid", "bn_hybrid_vs_cjob16_area",
                  "bn_imadw_vs_hybrid_eff"}


def test_summary_line():
    s = ex.mobilenet_summary()
    assert "34 IMAs (paper 34)" in s and "paper 10.1 ms" in s and "paper 482 uJ" in s


@pytest.fixture(scope="module")
def reps():
    return {n: ex.run(n) for n in ex.EXPERIMENTS}


def test_every_figure_within_10_percent_except_documented(reps):
    over = {r.key for rep in reps.values() for r in rep.rows if abs(r.error_pct) > 10}
    assert over == KNOWN_OUTLIERS


def test_status_labels(reps):
    for rep in reps.values():
        for r in rep.rows:
            assert r.status in (ex.FITTED, ex.PREDICTED, ex.DERIVED)
    predicted = [r for rep in reps.values() for r in rep.rows if r.status == ex.PREDICTED]
    assert len(predicted) >= 15


def test_battery_arithmetic_independent():
    # seed 004: 567 uW + 12 mW / 100 = 687 uW; 6000 mAh at 1 V -> 8734 h
    avg = ex.average_power_w(567e-6, 12e-3, 0.01)
    assert avg == pytest.approx(687e-6)
    assert ex.battery_days(6000, avg) == pytest.approx(6000 / 0.687 / 24, rel=1e-9)
    with pytest.raises(ValueError):
        ex.average_power_w(1e-3, 1e-3, 2.0)


def test_stage_power_fit_is_exact():
    sp = ex.StagePower.fit((1, 10e6, 267e-6), (8, 400e6, 8e-3))
    assert sp.power_w(1, 10e6) == pytest.approx(267e-6)
    assert sp.power_w(8, 400e6) == pytest.approx(8e-3)
    assert sp.static_w > 0 and sp.j_per_cycle > 0


def test_roofline_series_complete(reps):
    s = reps["roofline"].data["series"]
    assert len(s) == 2 * 2 * 5
    for series in s:
        for p in series["points"]:
            assert p["gops"] <= reps["roofline"].data["peak_tops"] * 1e3 * 1.0001


def test_reports_and_plots(tmp_path, reps):
    from aimc.system.report import markdown_table, plot_reproduction, reproduction_table

    md = markdown_table(list(reps.values()))
    assert md.count("\n") == sum(len(r.rows) for r in reps.values()) + 1
    assert "| mobilenetv2 | IMAs after TILE&PACK" in md
    text = reproduction_table(reps["bottleneck"])
    assert "IMA+DW" in text and "kcyc" in text
    paths = plot_reproduction(reps["dutycycle"], tmp_path)
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
