"""Closed-loop crossbars (solve Ax = b, eigenvectors, PageRank) in the real ngspice,
against numpy.linalg, power iteration and hand-derived closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from aimc.circuits import linalg as la
from aimc.circuits.opamp import OpAmp

IDEAL = la.LinalgConfig(opamp=OpAmp.make_ideal())

# the seed's 9-page example with a link structure of our own (Amazon ... YouTube)
PAGES9 = np.array([(0, 1), (0, 3), (1, 2), (1, 3), (1, 8), (2, 0), (2, 4), (3, 2), (3, 4),
                   (4, 3), (4, 5), (5, 3), (5, 6), (6, 3), (6, 7), (7, 3), (7, 8), (8, 0),
                   (8, 3)])


def well_conditioned(n: int, rng: np.random.Generator, signed: bool = False) -> np.ndarray:
    if signed:
        return rng.uniform(-1, 1, (n, n)) + 0.6 * np.sqrt(n) * np.eye(n) + 2 * np.eye(n)
    return rng.uniform(0, 1, (n, n)) + 0.5 * n * np.eye(n)


def rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.mark.parametrize("n", [4, 8, 16, 32])
def test_ideal_solution_equals_numpy_solve(n):
    rng = np.random.default_rng(n)
    a, b = well_conditioned(n, rng), rng.uniform(-1, 1, n)
    res = la.solve(a, b, IDEAL)
    assert rel(res.x, np.linalg.solve(a, b)) < 1e-6


def test_mixed_sign_two_arrays_equal_numpy_solve():
    rng = np.random.default_rng(7)
    a, b = well_conditioned(16, rng, signed=True), rng.uniform(-1, 1, 16)
    assert (a < 0).any()
    cfg = la.LinalgConfig(opamp=OpAmp.make_ideal(), two_arrays=True)
    assert rel(la.solve(a, b, cfg).x, np.linalg.solve(a, b)) < 1e-6


def test_finite_gain_error_matches_the_closed_form():
    # KCL at the sense line with v_i = -u_i/A0: (A + diag(S)/A0) x = b, S = row sums of |A|
    rng = np.random.default_rng(3)
    a, b = well_conditioned(12, rng), rng.uniform(-1, 1, 12)
    a0 = 300.0
    cfg = la.LinalgConfig(opamp=OpAmp(dc_gain=a0))
    got = la.solve(a, b, cfg).x
    want = np.linalg.solve(a + np.diag(np.abs(a).sum(axis=1)) / a0, b)
    assert rel(got, want) < 1e-9
    assert rel(got, np.linalg.solve(a, b)) > 1e-3       # the gain error is really there


def test_unstable_matrix_is_refused_naming_the_eigenvalue():
    a = np.array([[1.0, 2.0], [2.0, 1.0]])     # loop matrix A/3: eigenvalues 1 and -1/3
    with pytest.raises(la.UnstableMatrixError, match=r"-0\.3333"):
        la.solve(a, np.array([1.0, 0.0]), la.LinalgConfig())


def test_unstable_matrix_transient_does_not_settle():
    a = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(la.NotSettledError, match="did not settle"):
        la.solve(a, np.array([1.0, 0.5]), la.LinalgConfig(), transient=True,
                 check_loop=False)


def test_settling_follows_the_single_pole_loop_and_rails_power_balances():
    rng = np.random.default_rng(11)
    n = 8
    a = well_conditioned(n, rng)
    b = la.slowest_mode_rhs(a)          # the step excites only the slowest mode
    cfg = la.LinalgConfig()
    res = la.solve(a, b, cfg, transient=True)
    # derived: t = ln(1000)/(2π·GBW·λ_min); the 2000-point output grid limits resolution
    assert res.t_settle_s == pytest.approx(res.t_settle_predicted_s, rel=0.15)
    # static rails' power = quiescent + rail·|output current|, the output current being
    # u_j·Σ_i G_ij into the array at virtual ground (hand calculation)
    g = a * res.mapping.g_unit_s
    i_out = res.u_v * g.sum(axis=0)
    op = cfg.opamp
    p_hand = 2 * op.v_supply_v * op.i_q_a * n + op.v_supply_v * np.abs(i_out).sum()
    assert res.power_w == pytest.approx(p_hand, rel=2e-3)
    assert res.energy_j > res.e_quiescent_j > 0
    assert rel(res.x, la.solve(a, b, cfg).x) < 2e-3      # transient ends at the op point


def test_pagerank_9_pages_matches_power_iteration():
    g = la.google_matrix(PAGES9, 9)
    ref, _ = la.power_iteration(g)
    res = la.pagerank(PAGES9, 9)
    cos = res.vector @ ref / np.linalg.norm(ref)
    assert cos >= 0.999
    assert list(np.argsort(-res.vector)) == list(np.argsort(-ref))


def test_pagerank_64_node_random_graph_matches_power_iteration():
    rng = np.random.default_rng(1)
    n = 64
    edges = np.array([(i, j) for i in range(n) for j in range(n)
                      if i != j and rng.random() < 0.08])
    g = la.google_matrix(edges, n, dangling="uniform")
    ref, _ = la.power_iteration(g)
    res = la.pagerank(edges, n, dangling="uniform")
    assert res.vector @ ref / np.linalg.norm(ref) >= 0.999
    assert list(np.argsort(-res.vector)) == list(np.argsort(-ref))   # no ties in this graph
    assert la.same_ranking(res.vector, ref)


def test_hamiltonian_ground_state():
    x = np.linspace(-1, 1, 10)
    h = la.tridiagonal_hamiltonian(4.0 * x ** 2, hopping=1.0)   # harmonic well
    k, _ = la.ground_state_matrix(h)
    assert (k >= 0).all()
    res = la.eigenvector(k)
    _, vecs = np.linalg.eigh(h)
    ground = vecs[:, 0] * np.sign(vecs[np.argmax(np.abs(vecs[:, 0])), 0])
    assert abs(res.vector @ ground) >= 0.999


def test_signed_eigenvector_with_two_arrays():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    h = q @ np.diag([3.0, 1.5, 1.0, 0.5, -0.5, -1.0]) @ q.T
    res = la.eigenvector(h, la.LinalgConfig(two_arrays=True))
    assert abs(res.vector @ q[:, 0]) >= 0.999


# ---- bad input: one message naming the problem (no ngspice run needed) ---------------------

def test_bad_inputs_name_the_problem(tmp_path):
    cfg = la.LinalgConfig()
    a = np.eye(3) + 0.1
    with pytest.raises(la.LinalgInputError, match=r"A\[1, 2\] = nan"):
        bad = a.copy()
        bad[1, 2] = np.nan
        la.solve(bad, np.ones(3), cfg)
    with pytest.raises(la.LinalgInputError, match=r"b\[0\] = nan"):
        la.solve(a, np.array([np.nan, 1, 1]), cfg)
    with pytest.raises(la.LinalgInputError, match="negative.*two_arrays=True"):
        la.solve(a - 0.2, np.ones(3), cfg)
    with pytest.raises(la.LinalgInputError, match="singular"):
        la.solve(np.ones((3, 3)), np.ones(3), cfg)
    with pytest.raises(la.TooLargeError, match="surrogate"):
        la.solve(np.eye(200), np.ones(200), cfg)
    with pytest.raises(la.LinalgInputError, match="shape"):
        la.solve(np.ones((3, 4)), np.ones(3), cfg)
    dangling = tmp_path / "dangling.csv"
    dangling.write_text("source,target\n0,1\n1,2\n")
    e, n = la.read_graph_csv(dangling)
    with pytest.raises(la.LinalgInputError, match="dangling node.*2.*--dangling uniform"):
        la.google_matrix(e, n)
    out = tmp_path / "range.csv"
    out.write_text("0,1\n1,7\n")
    with pytest.raises(la.LinalgInputError, match=r"range.csv:2: node id 7 is out of range"):
        la.read_graph_csv(out, n_nodes=4)
    neg = tmp_path / "neg.csv"
    neg.write_text("0,1\n-1,0\n")
    with pytest.raises(la.LinalgInputError, match="node id -1"):
        la.read_graph_csv(neg)
    with pytest.raises(ValueError, match="circuit name"):
        la.LinalgConfig(name="x\n.control")


def test_saturation_mode_pins_the_largest_output_at_the_swing_limit():
    # G_λ 1 % below the eigenvalue: the principal mode grows until the largest output is
    # clamped (the paper's saturation); the rest follow to O(margin)
    g = la.google_matrix(PAGES9, 9)
    ref, _ = la.power_iteration(g)
    cfg = la.LinalgConfig()
    res = la.pagerank(PAGES9, 9, cfg, margin=0.01)
    assert np.max(np.abs(res.u_v)) == pytest.approx(cfg.opamp.v_out_max_v, rel=1e-3)
    cos = res.vector @ ref / np.linalg.norm(ref)
    assert 0.999 <= cos < 1 - 1e-6          # close, but the margin's error is visible
    # hand calculation of the pinned state: (λ_set I - G)_{-k} u_{-k} = G_{-k,k} u_k
    k = int(np.argmax(ref))
    keep = np.arange(9) != k
    u = np.zeros(9)
    u[k] = 1.0
    u[keep] = np.linalg.solve((0.99 * np.eye(8) - g[np.ix_(keep, keep)]), g[keep, k])
    assert np.max(np.abs(res.vector - u / np.linalg.norm(u))) < 2e-3
