"""Fast ADC counts of a tile under PWM: the charge as one matmul, the count's time-profile
remainder from a few samples, the ADC's clamp exactly where it can act.

The segment-exact path (:meth:`AnalogLayer._tile_counts_exact`) converts the crossbar
model's current in every segment between sorted pulse ends; for a 256-row tile that is
up to 127 segments, each a full crossbar evaluation. Here, with ``m`` = the ADC's
linear rate (:meth:`CcoAdcSurrogate.linear_rate`) and
``h(i) = sign(i)·f(min(|i|, i_max)) − m·i`` (:meth:`CcoAdcSurrogate.rate_remainder`):

    count = Σ_k sign(i_k)·f(|i_k|)·Δt_k = m·Q + Σ_k h(i_k)·Δt_k

1. ``Q``, the charge, exactly as the segment sum of the crossbar model: one matmul of
   ``[x·t, |x|·t, x·τ, |x|·τ]`` with the model's four row matrices
   (:class:`aimc.surrogate.crossbar_model.PwmRows`), in float32.
2. ``Σ h·Δt`` (the ADC's offset, curvature and clamp; a few counts): the current at
   the middle of ``profile_points`` equal strata of [0, longest pulse] of each vector
   (one matmul per sample, at the rows-off f̄'), each standing for its stratum. Inside
   the ADC's range ``h`` is nearly flat (f' ≈ m), so the samples' error matters little.
3. Where a sample comes within ``refine_at`` of ``i_max``, the clamp (slope −m: the
   part that is sensitive to the current) can act: for those (vector, column) pairs the
   remainder is recomputed exactly over every LSB step, from per-step row sums. The
   threshold is 0.8 x i_max for signed inputs and 0.9 x i_max when every input has one
   sign (post-ReLU): a one-sign profile fluctuates less between the samples. Measured on
   a 256x256 tile (64 vectors, 4 samples; RMS vs segment-exact, share of pairs refined):
   post-ReLU 0.073 LSB / 1.2 % at 0.8, 0.074 / 0.46 % at 0.9, 0.101 / 0 without
   refinement; signed 0.073 / 8.9 % at 0.8, 0.093 / 5.4 % at 0.9, 0.41 / 0 without.

No (B, segments, rows, cols) temporary: the largest are (profile_points, chunk, rows)
and (pairs, rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FastStats:
    n_steps: int = 0        # (vector, column, LSB step) triples up to the longest pulse
    n_clamped: int = 0      # of those, clamped (found in the exactly refined pairs)
    n_refined: int = 0      # (vector, column) pairs refined exactly


def prepare_rows(pr: Any) -> dict[str, np.ndarray]:
    """float32 matrices of the fast path, cached on the PwmRows."""
    cached = pr.__dict__.get("_f32")
    if cached is None:
        cached = pr.__dict__["_f32"] = {
            "stack": pr.stacked.astype(np.float32),
            # inputs of one sign (post-ReLU): x = |x|, two blocks [x·t, x·τ]
            "stack_pos": np.concatenate([pr.d0 + pr.s0, pr.d1 + pr.s1]).astype(np.float32),
            # samples: rows on at +1 only (post-ReLU inputs) / either sign
            "pos": (pr.d0 + pr.s0 + pr.base * (pr.d1 + pr.s1)).astype(np.float32),
            "both": np.concatenate([pr.d0 + pr.base * pr.d1,
                                    pr.s0 + pr.base * pr.s1]).astype(np.float32),
            "cols": [np.ascontiguousarray(m.T) for m in (pr.d0, pr.s0, pr.d1, pr.s1)],
            "cols_pos": [np.ascontiguousarray(m.T) for m in (pr.d0 + pr.s0, pr.d1 + pr.s1)],
        }
    return cached


#: bytes of the largest per-chunk temporary (the profile samples' currents): small
#: enough to stay in a core's L2 cache, so the chunk's passes do not go to memory
CHUNK_BYTES = 2 ** 21


def auto_chunk(rows: int, cols: int, profile_points: int) -> int:
    """Vectors per chunk so that the (profile_points, chunk, max(rows, cols)) float32
    temporaries stay within :data:`CHUNK_BYTES` (64 to 4096 vectors)."""
    per = 4 * profile_points * max(rows, cols, 1)
    return int(min(4096, max(64, CHUNK_BYTES // per)))


def _tau_uniform(pr: Any, mags: np.ndarray, n_levels: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`PwmRows.tau` where every active row adds the same ``dfs`` to f̄' (no odd
    part; the usual case): with ``C[m] = Σ_j min(|code_j|, m)`` (integers),
    ``τ_i = |code_i|·base + dfs·C[|code_i|]`` and ``f̄'_l = base + dfs·#{j: |code_j| >= l}``.
    Integer histograms instead of float ones; the same values (to float64 rounding)."""
    b, n = mags.shape
    width = n_levels + 1
    idx = (n_levels - mags) + (width * np.arange(b, dtype=np.int64))[:, None]
    hist = np.bincount(idx.ravel(), minlength=b * width).reshape(b, width)
    on = np.cumsum(hist, axis=1)[:, ::-1]          # on[:, l] = #{j: mags_j >= l}
    on[:, 0] = 0
    big_c = np.cumsum(on, axis=1)                  # C[l] = Σ_{k<=l} on[k]
    c_at = np.take_along_axis(big_c, mags.astype(np.intp, copy=False), axis=1)
    d = float(pr.dfs[0])
    tau = mags * pr.base + d * c_at
    fb = on * d + pr.base
    fb[:, 0] = 0.0
    return tau, fb


def fast_counts(pr: Any, adc: Any, key: str, codes: np.ndarray, t_lsb_s: float,
                n_levels: int, slope: float, profile_points: int = 4,
                refine_at: float | None = None, chunk: int | None = None,
                stats: FastStats | None = None) -> np.ndarray:
    """ADC counts (B, cols) (float, before the counter's rounding) of integer PWM codes
    (B, rows) with |code| <= ``n_levels``. ``chunk``: vectors per block (None:
    :func:`auto_chunk`); the one-sign decision is taken over the whole batch, so the
    blocks differ only in the BLAS calls' sizes."""
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        codes = codes.astype(np.int64)
    mats = prepare_rows(pr)
    stats = stats if stats is not None else FastStats()
    imax = float(adc.i_max_[adc.keys_.index(key)])
    n = codes.shape[1]
    ncols = pr.d0.shape[1]
    out = np.empty((codes.shape[0], ncols))
    m_pts = profile_points
    chunk = chunk or auto_chunk(n, ncols, m_pts)
    pos = bool(codes.size == 0 or codes.min() >= 0)
    uniform = not np.any(pr.dfd) and np.ptp(pr.dfs) == 0
    thr = refine_at if refine_at is not None else (0.9 if pos else 0.8)
    strata = ((np.arange(m_pts, dtype=np.float32) + 0.5) / m_pts)[:, None, None]
    for s0 in range(0, codes.shape[0], chunk):
        c = codes[s0:s0 + chunk]
        b = c.shape[0]
        mags = np.abs(c)
        sg = np.sign(c).astype(np.float32)
        if uniform:
            tau, fb = _tau_uniform(pr, mags, n_levels)
        else:
            tau, fb = pr.tau(mags, sg, n_levels)
        if pos:
            x = np.empty((b, 2 * n), np.float32)
            x[:, :n] = c
            x[:, n:] = tau
            lin = x @ mats["stack_pos"]
        else:
            x = np.empty((b, 4 * n), np.float32)
            x[:, :n] = c
            x[:, n:2 * n] = mags
            x[:, 2 * n:3 * n] = sg * tau
            x[:, 3 * n:] = np.abs(sg) * tau
            lin = x @ mats["stack"]
        lin = lin.astype(float) * (t_lsb_s * slope)
        del x, tau
        # the time profile: the current at the middle of m_pts strata of [0, longest]
        longest = mags.max(axis=1)
        t_mid = strata * longest.astype(np.float32)[None, :, None]
        on = np.greater(mags.astype(np.float32)[None], t_mid)                # (M, b, n)
        on = on.reshape(-1, n)
        if pos:
            cur = on.astype(np.float32) @ mats["pos"]
        else:
            on = on * sg.reshape(1, b, n).repeat(m_pts, axis=0).reshape(-1, n)
            cur = np.concatenate([on, np.abs(on)], axis=1) @ mats["both"]
        del on
        cur = cur.reshape(m_pts, b, -1)
        rem, peak = adc.rate_remainder(key, cur, slope, peak_axis=0)
        del cur
        rem = rem.sum(axis=0)
        count = lin + rem * (longest * (t_lsb_s / m_pts)).astype(np.float32)[:, None]
        near = peak > thr * imax
        del rem, peak
        stats.n_steps += int(longest.sum()) * out.shape[1]
        if near.any():
            pb, pc = np.nonzero(near)
            count[pb, pc] = lin[pb, pc] + _exact_remainder(
                mats, adc, key, mags, sg, fb, pb, pc, n_levels, slope, t_lsb_s, imax, stats,
                pos)
            stats.n_refined += pb.size
        out[s0:s0 + chunk] = count
    return out


def _step_currents(mats, mags, sg, fb, pb, pc, n_levels, pos) -> np.ndarray:
    """Currents (P, n_levels) of (vector, column) pairs in every LSB step 1..n_levels:
    the rows on in step l are those with |code| >= l (per-step row sums, reverse cumsum)."""
    sgp = sg[pb].astype(float)
    p, n = sgp.shape
    idx = (mags[pb] + (n_levels + 1) * np.arange(p)[:, None]).ravel()
    size = p * (n_levels + 1)
    if pos:
        e0, e1 = mats["cols_pos"]
        wa, wb = sgp * e0[pc], sgp * e1[pc]
    else:
        d0, s0, d1, s1 = mats["cols"]
        ap = np.abs(sgp)
        wa, wb = sgp * d0[pc] + ap * s0[pc], sgp * d1[pc] + ap * s1[pc]
    ha = np.bincount(idx, wa.ravel(), size).reshape(p, -1)
    hb = np.bincount(idx, wb.ravel(), size).reshape(p, -1)
    ia = np.cumsum(ha[:, ::-1], axis=1)[:, ::-1]
    ib = np.cumsum(hb[:, ::-1], axis=1)[:, ::-1]
    return (ia + fb[pb] * ib)[:, 1:]


def _exact_remainder(mats, adc, key, mags, sg, fb, pb, pc, n_levels, slope, t_lsb_s,
                     imax, stats: FastStats, pos: bool, block: int = 2048) -> np.ndarray:
    out = np.empty(pb.size)
    for k in range(0, pb.size, block):
        sl = slice(k, k + block)
        cur = _step_currents(mats, mags, sg, fb, pb[sl], pc[sl], n_levels, pos)
        stats.n_clamped += int(np.sum(np.abs(cur) > imax))
        out[sl] = adc.rate_remainder(key, cur, slope).astype(float).sum(axis=1) * t_lsb_s
    return out
