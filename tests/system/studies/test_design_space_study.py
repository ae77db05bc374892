"""The design-space study: spec checks, pruning and sparse mapping against NumPy counts,
RRAM/PCM statistics against their published laws, and the CI-sized study run through
the real CLI, killed with SIGKILL and resumed with nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from aimc.system.studies.study_spec import StudySpecError, load_spec, parse_spec

CI_TOML = load_spec("ci").text


def test_bad_specs_name_the_key_or_value():
    with pytest.raises(StudySpecError, match="unknown axis 'adc_gain'"):
        parse_spec('[axes]\nadc_gain = [1, 2]\n')
    with pytest.raises(StudySpecError, match="adc_bits = 4 is below input_bits = 8"):
        parse_spec('lossless = true\n[axes]\nadc_bits = [4, 8]\n')
    with pytest.raises(StudySpecError, match="'weight_bits': value 12 is outside 2..8"):
        parse_spec('[axes]\nweight_bits = [4, 12]\n')
    with pytest.raises(StudySpecError, match="'digits_resnet' is not a study network"):
        parse_spec('networks = ["digits_resnet"]\n')
    with pytest.raises(StudySpecError, match="unknown key"):
        parse_spec('n_configs = 3\n')
    spec = parse_spec('[axes]\nweight_bits = [2, 4]\ndevice = ["pcm", "rram"]\n')
    assert len(spec.configs()) == 4
    from aimc.system.cli import main

    assert main(["study", "/nonexistent/spec.toml", "--out", "x.h5"]) == 2


def test_pruning_and_sparse_tiles_match_numpy_counts():
    from aimc.system.cluster.tilepack import sparse_tiles, tile_matrix
    from aimc.system.studies.design_space import prune_matrix

    rng = np.random.default_rng(1)
    w = rng.normal(size=(300, 200))
    u = prune_matrix(w, 0.7, "unstructured", 64)
    assert np.sum(u == 0) == round(0.7 * w.size)
    kept = np.abs(w[u != 0]).min()
    assert kept >= np.abs(w[u == 0]).max()              # the smallest magnitudes went
    r = prune_matrix(w, 0.5, "row", 64)
    assert np.sum(~r.any(axis=1)) == 150 and np.sum(~r.any(axis=0)) == 0
    t = prune_matrix(w, 0.5, "tile", 64)
    # oracle: count the non-zero 64x64 blocks of the compacted matrix by hand
    rows = np.flatnonzero(t.any(axis=1))
    cols = np.flatnonzero(t.any(axis=0))
    c = t[np.ix_(rows, cols)]
    n_blocks = sum(c[i:i + 64, j:j + 64].any() for i in range(0, c.shape[0], 64)
                   for j in range(0, c.shape[1], 64))
    tiles = sparse_tiles("m", t, 64)
    assert len(tiles) == n_blocks < len(tile_matrix("m", 300, 200, 64))
    assert sum(x.cells for x in sparse_tiles("m", w, 64)) == w.size    # dense: all of it


def test_sparse_mapping_is_what_aimc_eval_sees(tmp_path):
    import onnx
    from aimc.system.cluster.model import evaluate
    from aimc.system.networks.onnx_import import load_onnx
    from aimc.system.studies.design_space import (
        array_config,
        cluster_config,
        hardware_objectives,
        job_model_for,
        network_model,
        prune_model,
    )
    from aimc.system.studies.study_spec import AXES

    c = {k: a.default for k, a in AXES.items()} | {"tile_size": 64, "prune": 0.5,
                                                   "prune_structure": "row"}
    model = network_model("digits_cnn")[0]
    pruned = prune_model(model, 0.5, "row", 64)
    acfg = array_config(c)
    hw = hardware_objectives(pruned, c, acfg)
    dense = hardware_objectives(model, c, acfg)
    p = tmp_path / "pruned.onnx"
    onnx.save(pruned, str(p))
    r = evaluate(load_onnx(p), cluster_config(c), job_model_for(c, acfg))   # aimc eval's path
    assert hw["energy_j"] == pytest.approx(r.energy_j, rel=1e-12)
    assert hw["n_tiles"] == len(r.pack.tiles)
    # oracle: half the crossbar rows of every layer are zero -> cells used by NumPy
    from onnx import numpy_helper

    cells = 0
    for init in pruned.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.ndim == 4:
            w = w.reshape(w.shape[0], -1).T
        elif w.ndim == 2 and init.name.endswith("weight"):
            w = w.T
        else:
            continue
        cells += int(w.any(axis=1).sum() * w.any(axis=0).sum())
    assert hw["devices"] == 4 * cells
    assert hw["bits_stored"] == cells * c["weight_bits"]
    assert hw["energy_j"] < dense["energy_j"] and hw["devices"] < dense["devices"]


def test_device_statistics_follow_their_published_laws():
    from aimc.system.array.device_stats import RramStatistics
    from aimc.system.studies.correlation import device_spread

    st = RramStatistics()
    g = np.full(200_000, 0.5 * st.g_max_s)
    # Wan et al. 2022 polynomials at ĝ = 0.5 (µS at 40 µS), scaled to g_max 25 µS
    s1 = (0.348 + 16.030 / 2 - 43.853 / 4 + 45.393 / 8 - 16.815 / 16) * 25 / 40 * 1e-6
    s_day = (0.701 + 22.086 / 2 - 50.773 / 4 + 47.095 / 8 - 16.458 / 16) * 25 / 40 * 1e-6
    rng = np.random.default_rng(0)
    gp = st.program(g, rng)
    assert np.std(gp) == pytest.approx(s1, rel=0.01)
    gt = st.at_time(gp, st.sample_nu(gp, rng), 86400.0, rng)
    assert np.std(gt) == pytest.approx(s_day, rel=0.01)
    assert np.mean(gt) == pytest.approx(np.mean(g), rel=2e-3)      # no systematic drift
    # PCM spread at ĝ = 0.5 after 1 h by hand from FACTS.md
    gh = 0.5
    prog = (0.26348 + 1.9650 * gh - 1.1731 * gh ** 2) / 25 / gh
    nu_s = max(min(-0.0125 * np.log(gh) - 0.0059, 0.045), 0.008)
    q_s = min(0.0088 / gh ** 0.65, 0.2)
    read = q_s * np.sqrt(np.log((3600 + 250e-9) / (2 * 250e-9)))
    hand = np.sqrt(prog ** 2 + (nu_s * np.log(3600 / 20)) ** 2 + read ** 2)
    assert device_spread("pcm", 3600.0) == pytest.approx(hand, rel=1e-12)


def _done(out, journal) -> int:
    """Configurations finished so far: in the journal or merged into the file."""
    from aimc.circuits.sweep.store import read_journal

    if not out.exists():
        return 0
    try:
        with h5py.File(out, "r") as f:
            merged = set(np.flatnonzero(f["configs/status"][:] != 0).tolist())
    except OSError:        # being replaced this instant
        return 0
    return len(merged | {o.index for o in read_journal(journal)})


def test_ci_study_survives_kill_9_and_refuses_another_spec(tmp_path):
    from aimc.system.studies.study_run import run_study
    from aimc.system.studies.study_store import StudyFileError, read_study

    out = tmp_path / "study.h5"
    journal = tmp_path / "study.h5.journal"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "aimc.system.cli", "study", "ci", "--out",
                             str(out), "--json"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 600 and _done(out, journal) < 2:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    from aimc.circuits.sweep.store import read_journal

    before = {o.index: o for o in read_journal(journal)}
    with h5py.File(out) as f:                      # merged by a checkpoint before the kill
        merged = set(np.flatnonzero(f["configs/status"][:] != 0).tolist())
    assert 2 <= len(merged | set(before)) < 12     # killed in the middle of the study
    s = run_study("ci", out, workers=2)
    assert s.n_run == 12 - len(merged | set(before))   # nothing done twice
    st = read_study(out)
    assert np.all(st["status"] != 0)               # nothing pending, nothing lost
    for i, o in before.items():                    # the pre-kill results are the file's
        if o.status == "ok":
            assert st["objectives"]["digits_mlp.acc_mean"][i] == pytest.approx(
                float(o.outputs["digits_mlp.acc_mean"]))
    assert not journal.exists()
    o = st["objectives"]
    ok = st["status"] == 1
    assert ok.sum() >= 11
    # memory objectives against their definition; accuracy is a share of 100 images
    assert np.allclose(o["digits_mlp.bits_stored"][ok] / o["digits_mlp.devices"][ok],
                       st["params"]["weight_bits"][ok] / 4)
    assert np.allclose(o["digits_mlp.acc_float"][ok] * 100,
                       np.rint(o["digits_mlp.acc_float"][ok] * 100))
    seeds = o["digits_mlp.acc_seeds"][ok]
    assert np.allclose(seeds.mean(axis=1), o["digits_mlp.acc_mean"][ok])
    # the fitted relation runs on the study's own data and reports a held-out error
    from aimc.system.studies.correlation import fit_relation

    fit = fit_relation(st, "digits_mlp")
    assert fit.n_test >= 2 and np.isfinite(fit.sigma_rms_rel_heldout)
    # a file of another spec is refused
    other = parse_spec(CI_TOML.replace("seeds = 2", "seeds = 1"), "other.toml")
    with pytest.raises(StudyFileError, match="another spec"):
        run_study(other, out)
    with h5py.File(out) as f:
        assert f.attrs["format"] == "aimc.study"
