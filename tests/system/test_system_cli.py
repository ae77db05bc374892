from __future__ import annotations

import json

import pytest
from aimc.system.cli import COMMANDS, build_parser, main
from aimc.system.networks.onnx_examples import small_cnn_graph


def test_eval_json(capsys):
    assert main(["eval", "mobilenetv2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("latency_s", "energy_j", "inferences_per_s", "n_ima", "layers"):
        assert key in d
    assert d["n_ima"] == 34
    assert d["latency_s"] == pytest.approx(sum(lay["latency_s"] for lay in d["layers"]))


def test_eval_table_and_plots(capsys, tmp_path):
    assert main(["eval", "bottleneck", "--plots", str(tmp_path), "--dump-arch",
                 str(tmp_path / "a.toml")]) == 0
    out = capsys.readouterr().out
    assert "latency" in out and "pw_expand" in out
    assert list(tmp_path.glob("*.png")) and (tmp_path / "a.toml").exists()
    # the dumped architecture loads back
    assert main(["eval", "bottleneck", "--arch", str(tmp_path / "a.toml"), "--json"]) == 0


def test_eval_onnx_file(tmp_path, capsys):
    import onnx

    p = tmp_path / "net.onnx"
    onnx.save(small_cnn_graph(), p)
    assert main(["eval", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_ima"] == 1 and len(d["layers"]) == 6


@pytest.mark.parametrize("argv,msg", [
    (["eval", "nosuchnet"], "unknown network"),
    (["eval", "mobilenetv2", "--n-ima", "3"], "needs 34 IMAs"),
    (["eval", "mobilenetv2", "--tile", "/nonexistent/tile.h5"], "tile"),
])
def test_errors_are_one_line(capsys, argv, msg):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("aimc: error:") and msg in err


def test_bad_arch(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text("[ima]\nbus_bits = 100\n")
    assert main(["eval", "mobilenetv2", "--arch", str(p)]) == 2
    assert "power of two" in capsys.readouterr().err
    p.write_text("n_cores = 0\n")
    assert main(["reproduce", "roofline", "--arch", str(p)]) == 2


def test_reproduce_json(capsys):
    assert main(["reproduce", "dutycycle", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    rows = {r["key"]: r for r in d["rows"]}
    # the slide's arithmetic (1 V) reproduces 363 days; the stated 2 AA battery gives 546
    assert rows["st_battery_days_1v"]["published"] == 363
    assert abs(rows["st_battery_days_1v"]["error_pct"]) < 1
    assert rows["st_battery_days"]["error_pct"] == pytest.approx(50.4, abs=0.1)


def test_dispatcher_is_extensible():
    names = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"eval", "reproduce"} <= names
    assert len(COMMANDS) >= 2


def test_explore(capsys):
    argv = ["explore", "bottleneck", "--axis", "ima.bus_bits=32,128", "--axis",
            "ima.execution=sequential,pipelined", "--processes", "1", "--json"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["rows"]) == 4 and d["pareto"]
    lat = {(r["bus_bits"], r["execution"]): r["latency_s"] for r in d["rows"]}
    assert lat[128, "pipelined"] < lat[32, "sequential"]
    assert main(["explore", "bottleneck", "--axis", "nokey"]) == 2
    assert "KEY=V1" in capsys.readouterr().err


def test_tile_hook_with_a_surrogate_loader(monkeypatch, capsys, tmp_path):
    """When aimc.surrogate provides load_tile_model, --tile uses it (size included)."""
    import aimc.surrogate

    class Tile:
        rows = cols = 128

        def latency_s(self, rows, cols):
            return 50e-9

        def energy_j(self, rows, cols):
            return 1e-9

    seen = []
    monkeypatch.setattr(aimc.surrogate, "load_tile_model",
                        lambda path: seen.append(path) or Tile(), raising=False)
    path = str(tmp_path / "tile.h5")
    assert main(["eval", "bottleneck", "--tile", path, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert seen == [path]
    jobs = sum(lay["jobs"] for lay in d["layers"])
    assert d["energy_by_block_j"]["ima_analog"] == pytest.approx(jobs * 1e-9)
