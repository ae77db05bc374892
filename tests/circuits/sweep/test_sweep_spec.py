"""Sweep specs: parsing, sampling and every user error, before anything runs (no ngspice)."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits.sweep.spec import (
    Linspace,
    Logspace,
    Range,
    Sampling,
    SpecError,
    SweepSpec,
    load_spec,
    point_seed,
    shipped_specs,
)

BASE = """
[sweep]
generator = "crossbar_op"
seed = 5
[fixed]
rows = 4
cols = 3
"""


def spec_file(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_grid_is_cartesian_product_in_declared_order(tmp_path):
    s = load_spec(spec_file(tmp_path, BASE + """
[grid]
encoding = ["single", "differential"]
r_wire_row_ohm = { linspace = [0.0, 2.0, 3] }
r_wire_col_ohm = { logspace = [0.1, 10.0, 3] }
"""))
    pts = s.points()
    assert s.n_points() == len(pts) == 18
    assert [p["encoding"] for p in pts[:9]] == ["single"] * 9
    assert [p["r_wire_row_ohm"] for p in pts[:3]] == [0.0, 0.0, 0.0]
    assert [p["r_wire_col_ohm"] for p in pts[:3]] == pytest.approx([0.1, 1.0, 10.0])
    combos = {(p["encoding"], p["r_wire_row_ohm"], p["r_wire_col_ohm"]) for p in pts}
    assert len(combos) == 18
    # every point has its own seed, derived from the sweep seed and its index
    assert len({p["seed"] for p in pts}) == 18
    assert pts[7]["seed"] == point_seed(5, 7)


@pytest.mark.parametrize("method", ["random", "lhs", "sobol"])
def test_sampling_is_seeded_in_range_and_crossed_with_grid(tmp_path, method):
    text = BASE + f"""
[grid]
encoding = ["single", "differential"]
[sample]
method = "{method}"
n = 16
v_read_v = {{ low = 0.1, high = 0.3 }}
g_max_s = {{ low = 1e-6, high = 1e-4, scale = "log" }}
w_dist = {{ choices = ["uniform", "normal"] }}
"""
    a = load_spec(spec_file(tmp_path, text)).points()
    b = load_spec(spec_file(tmp_path, text, "t.toml")).points()
    assert a == b  # same seed, same numbers
    assert len(a) == 32
    v = np.array([p["v_read_v"] for p in a[:16]])
    g = np.array([p["g_max_s"] for p in a[:16]])
    assert np.all((v >= 0.1) & (v <= 0.3)) and np.all((g >= 1e-6) & (g <= 1e-4))
    assert {p["w_dist"] for p in a} == {"uniform", "normal"}
    # the same samples for both grid values
    assert [p["v_read_v"] for p in a[:16]] == [p["v_read_v"] for p in a[16:]]
    if method == "lhs":  # Latin hypercube: exactly one sample per 1/n stratum
        strata = np.floor((v - 0.1) / 0.2 * 16).astype(int)
        assert sorted(strata) == list(range(16))
        lg = np.floor((np.log(g) - np.log(1e-6)) / (np.log(1e-4) - np.log(1e-6)) * 16)
        assert sorted(lg.astype(int)) == list(range(16))
    c = load_spec(spec_file(tmp_path, text.replace("seed = 5", "seed = 6"))).points()
    assert [p["v_read_v"] for p in c] != [p["v_read_v"] for p in a]


def test_integer_parameters_sample_integers(tmp_path):
    s = load_spec(spec_file(tmp_path, """
[sweep]
generator = "dac_line"
seed = 1
[fixed]
n_cells = 4
[sample]
method = "lhs"
n = 255
code = { low = -127, high = 127 }
"""))
    codes = [p["code"] for p in s.points()]
    assert all(isinstance(c, int) for c in codes)
    assert sorted(codes) == list(range(-127, 128))  # LHS over 255 integers hits each once


def test_repeat_gives_new_seeds(tmp_path):
    s = load_spec(spec_file(tmp_path, BASE.replace("seed = 5", "seed = 5\nrepeat = 3")))
    pts = s.points()
    assert len(pts) == 3 and len({p["seed"] for p in pts}) == 3


def test_python_built_spec_equals_toml_and_round_trips(tmp_path):
    toml = load_spec(spec_file(tmp_path, BASE + """
[grid]
r_wire_row_ohm = { linspace = [0.0, 1.0, 2] }
[sample]
method = "sobol"
n = 4
v_read_v = { low = 0.1, high = 0.3 }
[record]
outputs = ["i_out_a"]
"""))
    py = SweepSpec(generator="crossbar_op", name="s", seed=5, fixed={"rows": 4, "cols": 3},
                   grid={"r_wire_row_ohm": Linspace(0.0, 1.0, 2)},
                   sample=Sampling("sobol", 4, {"v_read_v": Range(0.1, 0.3)}),
                   record=["i_out_a"]).validate()
    assert py.spec_hash() == toml.spec_hash()
    assert py.points() == toml.points()
    again = SweepSpec.from_text(py.to_toml())
    assert again.spec_hash() == py.spec_hash() and again.points() == py.points()
    # an explicit list equal to the linspace is the same sweep
    listed = SweepSpec(generator="crossbar_op", name="s", seed=5, fixed={"rows": 4, "cols": 3},
                       grid={"r_wire_row_ohm": [0.0, 1.0]},
                       sample=Sampling("sobol", 4, {"v_read_v": Range(0.1, 0.3)}),
                       record=["i_out_a"])
    assert listed.spec_hash() == py.spec_hash()
    # a different fixed value is a different sweep
    other = SweepSpec(generator="crossbar_op", seed=5, fixed={"rows": 4, "cols": 4})
    assert other.spec_hash() != SweepSpec(generator="crossbar_op", seed=5,
                                          fixed={"rows": 4, "cols": 3}).spec_hash()


def test_shipped_specs_are_valid_and_ci_forms_are_small():
    specs = shipped_specs()
    for circuit in ("crossbar_op", "dac_line", "cco_adc"):
        for form in ("ci", "full"):
            assert f"{circuit}_{form}" in specs
        ci = load_spec(f"{circuit}_ci")
        full = load_spec(f"{circuit}_full")
        assert ci.generator == full.generator == circuit
        assert ci.n_points() <= 32 < full.n_points()


@pytest.mark.parametrize("text,key,words", [
    ("[sweep]\ngenerator = 'nope'\n", "[sweep] generator", "unknown generator"),
    (BASE + "[grid]\nbogus = [1, 2]\n", "[grid] bogus", "unknown parameter"),
    (BASE.replace("rows = 4", "rows = 'four'"), "[fixed] rows", "integer"),
    (BASE + "[grid]\nv_read_v = [0.1, 'x']\n", "[grid] v_read_v", "number"),
    (BASE + "[grid]\nr_wire_row_ohm = [-1.0]\n", "[grid] r_wire_row_ohm", ">= 0"),
    (BASE + "[grid]\nencoding = ['single', 'quad']\n", "[grid] encoding", "not one of"),
    (BASE + "[grid]\nr_wire_row_ohm = { logspace = [0.0, 1.0, 3] }\n",
     "[grid] r_wire_row_ohm", "impossible range"),
    (BASE + "[grid]\nr_wire_row_ohm = { linspace = [0.0, 1.0, 0] }\n",
     "[grid] r_wire_row_ohm (n)", ">= 1"),
    (BASE + "[grid]\nv_read_v = []\n", "[grid] v_read_v", "empty"),
    (BASE + "[sample]\nmethod = 'lhs'\nn = 4\nv_read_v = { low = 0.3, high = 0.1 }\n",
     "[sample] v_read_v", "impossible range"),
    (BASE + "[sample]\nmethod = 'halton'\nn = 4\nv_read_v = { low = 0.1, high = 0.3 }\n",
     "[sample] method", "not a sampling method"),
    (BASE + "[sample]\nmethod = 'lhs'\nn = 4\nv_read_v = { low = 0.0, high = 0.3, "
            "scale = 'log' }\n", "[sample] v_read_v", "log scale"),
    (BASE.replace("seed = 5\n", ""), "[sweep] seed", "seed is required"),
    ("[sweep]\ngenerator = 'cco_adc'\n[sample]\nmethod = 'random'\nn = 3\n"
     "i_in_a = { low = 0.0, high = 1e-5 }\n", "[sweep] seed", "seed is required"),
    (BASE + "[grid]\nrows = [2, 3]\n", "[grid] rows", "also set in [fixed]"),
    ("[sweep]\ngenerator = 'crossbar_op'\nseed = 1\n[fixed]\nrows = 2\n", "[fixed]",
     "needs cols"),
    (BASE + "[record]\noutputs = ['i_out_a', 'volts']\n", "[record] outputs",
     "unknown output"),
    (BASE + "[analysis]\ntype = 'tran'\n", "[analysis] type", "not an analysis"),
    (BASE + "[sweep2]\nx = 1\n", "[sweep2]", "unknown section"),
    (BASE.replace("seed = 5", "seed = 5\ntimeout_s = -1"), "[sweep] timeout_s", "> 0"),
    (BASE + "[grid\n", "", "not valid TOML"),
])
def test_spec_errors_name_file_and_key(tmp_path, text, key, words):
    path = spec_file(tmp_path, text, "bad_spec.toml")
    with pytest.raises(SpecError) as e:
        load_spec(path)
    msg = str(e.value)
    assert str(path) in msg
    assert e.value.key == key or (not key and not e.value.key)
    assert words in msg


def test_python_spec_errors_too():
    with pytest.raises(SpecError, match=r"\[grid\] rows"):
        SweepSpec(generator="crossbar_op", seed=1, fixed={"cols": 2},
                  grid={"rows": Logspace(-1, 4, 3)}).validate()
    with pytest.raises(SpecError, match="no such file|cannot read"):
        load_spec("/nonexistent/spec.toml")
