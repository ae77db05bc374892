"""``aimc linalg``: results against numpy / power iteration; bad input -> one message."""

from __future__ import annotations

import json

import numpy as np
import pytest
from aimc.circuits import linalg as la
from aimc.system.cli import main


def _save(tmp_path, **arrays):
    for k, v in arrays.items():
        np.save(tmp_path / f"{k}.npy", v)


def test_solve_spice_ideal_and_surrogate(tmp_path, capsys):
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 1, (10, 10)) + 4 * np.eye(10)
    b = rng.uniform(-1, 1, 10)
    _save(tmp_path, A=a, b=b)
    assert main(["linalg", "solve", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"),
                 "--ideal", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["max_rel_error"] < 1e-6
    assert np.allclose(d["x"], np.linalg.solve(a, b), rtol=1e-6, atol=0)
    # finite gain 1e4: the surrogate gives the closed form (A + diag(S)/A0) x = b
    assert main(["linalg", "solve", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"),
                 "--surrogate", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    want = np.linalg.solve(a + np.diag(np.abs(a).sum(axis=1)) / 1e4, b)
    assert np.max(np.abs(np.array(d["x"]) - want)) < 1e-9 * np.max(np.abs(want))


def test_pagerank_csv(tmp_path, capsys):
    g = tmp_path / "g.csv"
    g.write_text("source,target\n0,1\n1,2\n2,0\n2,1\n3,0\n3,2\n1,3\n")
    assert main(["linalg", "pagerank", str(g), "--json", "--plots", str(tmp_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    edges, n = la.read_graph_csv(g)
    ref, _ = la.power_iteration(la.google_matrix(edges, n))
    assert d["cosine"] >= 0.999 and d["ranking_equal"]
    assert np.allclose(d["pagerank"], ref, atol=1e-4)
    assert (tmp_path / "linalg_pagerank.png").exists()


@pytest.mark.parametrize("setup,argv,msg", [
    (lambda p: _save(p, A=np.ones((3, 3)), b=np.ones(3)),
     ["solve", "A.npy", "b.npy"], "singular"),
    (lambda p: _save(p, A=np.eye(3) - 0.2, b=np.ones(3)),
     ["solve", "A.npy", "b.npy"], "--two-arrays"),
    (lambda p: _save(p, A=np.eye(200) + 0.01, b=np.ones(200)),
     ["solve", "A.npy", "b.npy"], "--surrogate"),
    (lambda p: _save(p, A=np.array([[1.0, np.nan], [0, 1]]), b=np.ones(2)),
     ["solve", "A.npy", "b.npy"], "nan"),
    (lambda p: _save(p, A=np.array([[1.0, 2.0], [2.0, 1.0]]), b=np.ones(2)),
     ["solve", "A.npy", "b.npy"], "eigenvalue -0.3333"),
    (lambda p: (p / "g.csv").write_text("0,1\n1,2\n"), ["pagerank", "g.csv"], "dangling"),
    (lambda p: (p / "g.csv").write_text("0,1\n1,0\n1,5\n"),
     ["pagerank", "g.csv", "--nodes", "3"], "out of range"),
    (lambda p: None, ["solve", "missing.npy", "b.npy"], "does not exist"),
])
def test_bad_input_one_message(tmp_path, capsys, monkeypatch, setup, argv, msg):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    assert main(["linalg", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aimc: error:") and msg in err
    assert "Traceback" not in err
