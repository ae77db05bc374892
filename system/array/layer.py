"""The array simulator: a weight matrix on 256x256 analog tiles, evaluated through the
SPICE-fitted surrogates of a tile model (crossbar, CCO-ADC) and PCM device statistics.

Signal chain of one MVM on one tile (defaults and their sources in :class:`ArrayConfig`):

1. **weights** (any rows x cols) are split into tiles of at most 256 x 256 (HERMES /
   seed-001 IMA); row splits give partial sums that are added digitally, as the cluster
   model assumes. Weights are quantised to 4-bit signed levels (±7) with one scale per
   output column and written as conductances with ``weights_to_conductances`` (HERMES
   encoding: weight = (G1+ + G2+) − (G1− + G2−), g_max 25 µS, 0.1 µS reset floor).
2. **devices** (optional): programming noise, drift and 1/f read noise at a chosen time
   after programming (:mod:`aimc.system.array.device_stats`).
3. **inputs** are quantised to signed 8-bit PWM codes (sign + 7-bit magnitude, 1 ns per
   LSB → 128 ns window) with one scale per layer.
4. **crossbar surrogate**, compiled once per weight tile: the output-line current in every
   segment between sorted pulse ends (``aimc.circuits.tile.pwm_segments``; here on the
   union of the batch's pulse ends).
5. **CCO-ADC surrogate**: the count of that stepped current, ``Σ sign·f(|i_k|)·Δt_k``; 8-bit
   signed output with full scale = the count of the ADC's calibrated current range
   (I_max = 100 µA over the 128 ns window, FACTS.md), clipped to ±127.
6. **digital rescale**: a per-column affine calibration (64-core chip) fitted once after
   programming on calibration inputs, then the inverse input/weight scales, the global
   drift compensation factor, and the sum of the row tiles.

Three paths are exposed so the error can be split: :meth:`AnalogLayer.ideal` (float
matmul), :meth:`AnalogLayer.quantised` (8-bit inputs, 4-bit weights, ideal linear 8-bit
ADC at the same full scale) and :meth:`AnalogLayer.analog` (the surrogates, with or
without device statistics).

Not modelled here: the PWM DAC's edge timing (pulses are ideal |code|·t_lsb; the DAC
surrogate is used for energy only), ADC noise and the random phase of the CCO at the
window start (the count is rounded), 1T1R access transistors (the crossbar surrogate is 1R).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aimc.system.array.device_stats import (
    STATISTICS,
    PcmStatistics,
    device_statistics,
    drift_compensation_factor,
    program_devices,
)

TILE = 256  # FACTS.md: HERMES / IMA crossbar 256 x 256


class TileModelMissingError(FileNotFoundError):
    """No tile model is available (none given and no shipped default)."""


class ArrayInputError(ValueError):
    """Weights or inputs the array cannot take (NaN, wrong shape, ...)."""


@dataclass
class ArrayConfig:
    """Parameters of the analog array; every default names its source."""

    tile_rows: int = TILE               # FACTS.md: 256 x 256 crossbar
    tile_cols: int = TILE
    weight_bits: int = 4                # FACTS.md seed 001: 4-bit signed weights
    input_bits: int = 8                 # FACTS.md HERMES: 8-bit PWM, sign + 7-bit
    output_bits: int = 8                # FACTS.md seed 001: 8-bit signed ADC outputs
    encoding: str = "hermes"            # FACTS.md HERMES: 4 PCM devices per weight
    device: str = "pcm"                 # the PCM I-V law of aimc.circuits.devices
    g_max_s: float = 25e-6              # FACTS.md: PCM 0-25 µS
    g_min_s: float = 0.1e-6             # FACTS.md 64-core: devices 0.1-10 µS (reset floor)
    v_read_v: float = 0.2               # FACTS.md: read 0.1-0.4 V; HERMES 0.2 V
    t_lsb_s: float = 1e-9               # FACTS.md: PWM at 1 GHz
    r_wire_row_ohm: float = 0.25        # per cell pitch: middle of the 0.05-1 ohm grid of
    r_wire_col_ohm: float = 0.25        # surrogate_crossbar_heldout256 (no published value)
    r_driver_ohm: float = 47.0          # PwmDacConfig.r_out_ohm (the DAC output switch)
    i_fs_a: float = 100e-6              # FACTS.md: line current <= ~100 µA (ADC linear range)
    window_s: float = 128e-9            # FACTS.md: 128 ns integration window
    adc_key: str | None = None          # ADC condition of the tile model; None: the
    #                                     linearized 0.8 V / 27 °C one, else the first
    t_inference_s: float | None = None  # None: ideal devices; else time after programming
    drift_compensation: bool = True     # FACTS.md: global drift compensation
    seed: int = 0
    fast: bool = True                   # True: the PWM charge as one matmul + a sampled
    #                                     time-profile remainder; False: segment-exact
    profile_points: int = 4             # samples of the time profile (fast; see pwm_fast)
    #: vectors per block of the fast path (bounds the temporaries); None: as many as
    #: keep them within a core's L2 cache (pwm_fast.auto_chunk). The one-sign decision is
    #: taken over the whole batch, so blocks of 256 to 4096 gave identical MobileNetV2
    #: outputs (measured); 4096 (the former default) ran 8-13 % more CPU than 256-512
    batch_chunk: int | None = None
    #: an ideal linear ADC instead of the CCO-ADC surrogate: code = PWM charge of the
    #: crossbar model / (i_fs_a · window_s) · y_levels, rounded; needs no calibration
    ideal_adc: bool = False
    #: device statistics read at t_inference_s: "pcm" (FACTS.md) or "rram" (Wan et al.,
    #: Nature 2022; device_stats.RramStatistics)
    statistics: str = "pcm"

    def __post_init__(self) -> None:
        for name in ("tile_rows", "tile_cols", "weight_bits", "input_bits", "output_bits"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 2:
                raise ValueError(f"ArrayConfig.{name} must be an integer >= 2, got {v!r}")
        for name in ("g_max_s", "v_read_v", "t_lsb_s", "i_fs_a", "window_s"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"ArrayConfig.{name} must be finite and > 0, got {v!r}")
        if self.t_inference_s is not None and not (np.isfinite(self.t_inference_s)
                                                   and self.t_inference_s >= 0):
            raise ValueError(f"t_inference_s must be >= 0 s, got {self.t_inference_s!r}")
        for name in ("profile_points", "batch_chunk"):
            v = getattr(self, name)
            if v is None and name == "batch_chunk":
                continue
            if not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"ArrayConfig.{name} must be an integer >= 1, got {v!r}")
        if self.statistics not in STATISTICS:
            raise ValueError(f"ArrayConfig.statistics {self.statistics!r}: use one of "
                             + ", ".join(STATISTICS))
        if self.encoding not in ("differential", "hermes"):
            raise ValueError(f"encoding {self.encoding!r}: signed weights need "
                             "'differential' or 'hermes'")

    @property
    def w_levels(self) -> int:
        return 2 ** (self.weight_bits - 1) - 1

    @property
    def x_levels(self) -> int:
        return 2 ** (self.input_bits - 1) - 1

    @property
    def y_levels(self) -> int:
        return 2 ** (self.output_bits - 1) - 1


# ------------------------------------------------------------------------------------
# tile model
# ------------------------------------------------------------------------------------

def resolve_tile_model(path: str | Path | None = None) -> Any:
    """Load ``path`` or the shipped default; a clear error when there is none."""
    from aimc.surrogate.tile_model import default_tile_model_path, load_tile_model

    if path is None:
        p = default_tile_model_path()
        if not p.exists():
            raise TileModelMissingError(
                f"no tile model: the shipped default {p} is not there; fit one with "
                "`aimc fit SWEEP.h5 ... --out tile.h5` and pass it (--tile tile.h5)")
        path = p
    p = Path(path)
    if not p.exists():
        raise TileModelMissingError(f"tile model {str(p)!r} does not exist")
    model = load_tile_model(p)
    missing = [c for c in ("crossbar", "adc") if getattr(model, c) is None]
    if missing:
        raise ValueError(f"tile model {str(p)!r} lacks the {' and '.join(missing)} "
                         f"surrogate(s) the array simulator needs (has: "
                         f"{', '.join(model.circuits) or 'none'})")
    return model


def pick_adc_key(adc: Any, key: str | None) -> str:
    if key is not None:
        if key not in adc.keys_:
            raise ValueError(f"ADC condition {key!r} is not in the tile model "
                             f"({', '.join(adc.keys_)})")
        return key
    for k in adc.keys_:
        if "lin=1" in k and "vdd=0.8|" in k and k.endswith("T=27"):
            return k
    return adc.keys_[0]


# ------------------------------------------------------------------------------------
# quantisation
# ------------------------------------------------------------------------------------

def quantise_weights(w: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed integer levels (rows, cols) in [-levels, levels] and one scale per column."""
    scale = np.max(np.abs(w), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(w / scale * levels), -levels, levels).astype(np.int64)
    return q, scale / levels


def code_dtype(levels: int) -> type:
    """The smallest integer type of signed codes in [-levels, levels] (int16 for the
    8-bit PWM codes: a quarter of the memory traffic of int64, no overflow in sums of
    two codes)."""
    return np.int16 if levels <= 2 ** 14 else np.int64


def quantise_inputs(x: np.ndarray, scale: float, levels: int) -> np.ndarray:
    """Signed PWM codes (sign + magnitude) of inputs for a per-layer full scale."""
    v = np.asarray(x, float) / scale * levels
    np.rint(v, out=v)
    np.clip(v, -levels, levels, out=v)
    return v.astype(code_dtype(levels))


def check_weights(w: np.ndarray, name: str) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.ndim != 2 or 0 in w.shape:
        raise ArrayInputError(f"layer {name!r}: weights must be a non-empty 2-D matrix "
                              f"(rows x cols), got shape {w.shape}")
    bad = ~np.isfinite(w)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ArrayInputError(f"layer {name!r}: weights hold {int(bad.sum())} NaN/inf "
                              f"value(s), first at [{r}, {c}] = {w[r, c]!r}")
    return w


# ------------------------------------------------------------------------------------
# one tile
# ------------------------------------------------------------------------------------

@dataclass
class _Tile:
    r0: int
    r1: int
    c0: int
    c1: int
    q: np.ndarray                        # integer weight levels of this tile
    g_target: np.ndarray                 # (n_dev, rows, cols) target conductances
    cfg: Any = None                      # CrossbarConfig
    g_now: np.ndarray | None = None      # conductances as read now (None: not programmed)
    compiled_: Any = None                # CompiledCrossbar of g_now (built on first use)
    compiler: Any = None                 # (tile, g) -> CompiledCrossbar
    a: np.ndarray | None = None          # per-column affine calibration (to integer units)
    b: np.ndarray | None = None
    drift_factor: float = 1.0
    cal_cache: dict = field(default_factory=dict)   # calibration codes per programming
    q32: np.ndarray | None = None        # q as float32 (exact integer matmuls)

    @property
    def compiled(self) -> Any:
        """The crossbar surrogate compiled for the devices as read now; compiled once per
        programming, when first needed (a calibration followed by reprogramming does not
        compile the intermediate state)."""
        if self.compiled_ is None:
            self.compiled_ = self.compiler(self, self.g_now)
        return self.compiled_


@dataclass
class AnalogLayer:
    """A weight matrix (rows = inputs, cols = outputs) on analog tiles.

    ``fit_inputs(x)`` sets the input scale and calibrates; ``analog(x)``, ``quantised(x)``
    and ``ideal(x)`` evaluate a batch (B, rows) -> (B, cols).
    """

    weights: np.ndarray
    config: ArrayConfig = field(default_factory=ArrayConfig)
    tile_model: Any = None
    name: str = "layer"

    def __post_init__(self) -> None:
        self.weights = check_weights(self.weights, self.name)
        if self.tile_model is None:
            self.tile_model = resolve_tile_model(None)
        cfg = self.config
        self.adc_key_ = pick_adc_key(self.tile_model.adc, cfg.adc_key)
        self.q_, self.w_step_ = quantise_weights(self.weights, cfg.w_levels)
        self.x_scale_: float | None = None
        self._notes: list[str] = []
        self.n_clamped_ = 0
        self.n_segments_ = 0
        # ADC: counts of the full-scale charge (I_fs over the window) -> 8-bit full scale
        self.count_fs_ = float(self.tile_model.adc.count_dc(
            self.adc_key_, np.array([cfg.i_fs_a]), cfg.window_s, policy="ignore")[0])
        if self.count_fs_ <= 0:
            raise ValueError(f"ADC condition {self.adc_key_!r}: full-scale count "
                             f"{self.count_fs_!r} is not positive")
        self.tiles_ = self._make_tiles()
        self.program(cfg.t_inference_s, cfg.seed)

    # -- geometry ---------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.weights.shape[0]

    @property
    def cols(self) -> int:
        return self.weights.shape[1]

    @property
    def n_tiles(self) -> int:
        return len(self.tiles_)

    def _make_tiles(self) -> list[_Tile]:
        from aimc.circuits.crossbar import weights_to_conductances

        cfg = self.config
        out = []
        for r0 in range(0, self.rows, cfg.tile_rows):
            for c0 in range(0, self.cols, cfg.tile_cols):
                r1, c1 = min(r0 + cfg.tile_rows, self.rows), min(c0 + cfg.tile_cols, self.cols)
                q = self.q_[r0:r1, c0:c1]
                if not q.any():   # an all-zero tile is not programmed (sparse mapping)
                    continue
                g = weights_to_conductances(q / cfg.w_levels, cfg.encoding, cfg.g_max_s,
                                            cfg.g_min_s)
                out.append(_Tile(r0, r1, c0, c1, q, g, compiler=self._compile,
                                 q32=q.astype(np.float32)))
        return out

    def _xbar_cfg(self, rows: int, cols: int):
        from aimc.circuits.crossbar import CrossbarConfig

        c = self.config
        return CrossbarConfig(rows=rows, cols=cols, encoding=c.encoding, device=c.device,
                              r_wire_row_ohm=c.r_wire_row_ohm, r_wire_col_ohm=c.r_wire_col_ohm,
                              r_driver_ohm=c.r_driver_ohm, v_read_v=c.v_read_v)

    def _compile(self, tile: _Tile, g: np.ndarray) -> Any:
        tile.cfg = tile.cfg or self._xbar_cfg(tile.r1 - tile.r0, tile.c1 - tile.c0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # the domain is checked at the nominal conductance scale: device spread,
            # drift and tiles of small weights sit around or below it (see compile)
            compiled = self.tile_model.crossbar.compile(
                tile.cfg, g, g_max_s=min(float(np.max(g)), self.config.g_max_s))
        self._note(str(w.message) for w in caught)
        return compiled

    def _note(self, msgs) -> None:
        for m in msgs:   # one note per message kind (up to the value)
            if not any(n.split(" = ")[0] == m.split(" = ")[0] for n in self._notes):
                self._notes.append(m)

    @property
    def notes_(self) -> list[str]:
        """Domain warnings of the surrogates and the share of clamped ADC inputs."""
        out = list(self._notes)
        if self.n_clamped_:
            imax = float(self.tile_model.adc.i_max_[
                self.tile_model.adc.keys_.index(self.adc_key_)])
            out.append(f"ADC input current beyond the fitted {imax * 1e6:.0f} µA in "
                       f"{self.n_clamped_ / self.n_segments_:.2%} of the PWM segments "
                       "(peak line current; clamped: the CCO saturates)")
        return out

    # -- devices ----------------------------------------------------------------------------
    def program(self, t_inference_s: float | None, seed: int = 0,
                stats: PcmStatistics | None = None) -> None:
        """(Re)program every tile: ideal devices (``t_inference_s`` None) or PCM statistics
        read ``t_inference_s`` after programming. If the layer was calibrated, the
        per-column calibration is refitted on the same inputs with the devices as read
        right after programming (t0), and the drift compensation factor is measured.
        The crossbar surrogates are compiled and the calibration fitted when first
        needed (or by :meth:`prepare`): programming twice in a row compiles once."""
        self.t_inference_s_ = t_inference_s
        rng = np.random.default_rng(seed)
        stats = stats or device_statistics(self.config.statistics, self.config.g_max_s)
        self._state = []
        for tile in self.tiles_:
            if t_inference_s is None:
                g_cal = g_now = tile.g_target
            else:
                dev = program_devices(stats, tile.g_target, rng)
                # calibration read right after programming (t0), the inference read later
                g_cal = stats.at_time(dev.g_prog_s, dev.nu, stats.t0_s, rng)
                g_now = stats.at_time(dev.g_prog_s, dev.nu, t_inference_s, rng)
            tile.drift_factor = 1.0
            self._state.append((g_cal, g_now))
            tile.g_now, tile.compiled_ = g_now, None
        self._cal_pending = getattr(self, "_codes_cal", None) is not None

    def prepare(self) -> AnalogLayer:
        """Compile every tile's crossbar surrogate for the devices as read now, fit a
        pending calibration and build the fast path's matrices, so that evaluation (or
        processes forked from here) start with everything computed."""
        self._ready()
        if getattr(self, "_q32", None) is None:
            self._q32 = self.q_.astype(np.float32)
        if self.config.fast and not self.config.ideal_adc:
            from aimc.system.array.pwm_fast import prepare_rows

            for tile in self.tiles_:
                prepare_rows(tile.compiled.pwm_rows())
        return self

    def _ready(self) -> None:
        if getattr(self, "_cal_pending", False):
            self._fit_calibration(self._codes_cal)

    # -- input scale and calibration -------------------------------------------------------
    def fit_inputs(self, x_cal: np.ndarray, max_cal: int = 256) -> AnalogLayer:
        """Per-layer input full scale (max |x| of ``x_cal``) and the per-column affine
        calibration of every tile on (up to ``max_cal``) of those inputs."""
        x_cal = self._check_x(x_cal)
        s = float(np.max(np.abs(x_cal)))
        self.x_scale_ = s if s > 0 else 1.0
        self.calibrate(quantise_inputs(x_cal[:max_cal], self.x_scale_, self.config.x_levels))
        return self

    def calibrate(self, codes_cal: np.ndarray) -> None:
        """Per column: least squares ``integer dot product ≈ a·ADC code + b`` over the
        unclipped calibration outputs, read with the devices as just programmed (the
        64-core chip's affine correction). Fitted when first needed (see :meth:`program`)."""
        self._codes_cal = np.asarray(codes_cal, np.int64)
        self._cal_pending = True

    def _fit_calibration(self, codes_cal: np.ndarray) -> None:
        self._cal_pending = False
        ylim = self.config.y_levels
        a_nom = 1.0 / self._k_nom()
        for tile, (g_cal, g_now) in zip(self.tiles_, self._state, strict=True):
            codes = codes_cal[:, tile.r0:tile.r1]
            if g_cal is g_now:
                y8 = self._tile_codes(tile, tile.compiled, codes)
            else:
                y8 = self._cal_codes(tile, g_cal, codes)
            target = _int_matmul(codes, tile.q, tile.q32)
            nc = tile.q.shape[1]
            tile.a, tile.b = np.full(nc, a_nom), np.zeros(nc)
            if not self.config.ideal_adc:
                tile.a, tile.b = _affine_fit(y8, target, ylim, a_nom)
            tile.drift_factor = 1.0
            if g_cal is not g_now and self.config.drift_compensation:
                # global drift compensation (FACTS.md): the same reference inputs read
                # through the analog path after programming and at t_inference
                ref0 = tile.a * y8 + tile.b
                y8_now = self._tile_codes(tile, tile.compiled, codes)
                ref_now = tile.a * y8_now + tile.b
                if np.any(ref0) and np.any(ref_now):
                    tile.drift_factor = drift_compensation_factor(ref0, ref_now)
                else:
                    # no signal on this tile's reference reads (e.g. its inputs are
                    # pruned): nothing to compare, nothing to compensate
                    self._note([f"drift compensation skipped on tile rows {tile.r0}-"
                                f"{tile.r1}: its reference outputs are all zero"])

    def _cal_codes(self, tile: _Tile, g_cal: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """ADC codes of the calibration inputs with the devices as read right after
        programming. They depend on the programming seed, not on the time of the later
        read, so they are kept (as small integers, up to 16 per tile): reprogramming with
        a seed seen before, at another time, skips compiling the crossbar again."""
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(g_cal).tobytes())
        h.update(np.ascontiguousarray(codes).tobytes())
        h.update(f"{self.config!r}|{id(self.tile_model)}|{self.adc_key_}".encode())
        key = h.digest()
        hit = tile.cal_cache.get(key)
        if hit is not None:
            return hit.astype(float)
        y8 = self._tile_codes(tile, self._compile(tile, g_cal), codes)
        if len(tile.cal_cache) >= 16:
            tile.cal_cache.pop(next(iter(tile.cal_cache)))
        tile.cal_cache[key] = y8.astype(np.min_scalar_type(-self.config.y_levels))
        return y8

    def _k_nom(self) -> float:
        """Nominal 8-bit ADC codes per unit of the integer dot product Σ code·q."""
        c = self.config
        per_dev = (c.g_max_s - c.g_min_s) / c.w_levels
        n_par = 2 if c.encoding == "hermes" else 1
        q_unit = c.v_read_v * per_dev * n_par * c.t_lsb_s       # C per code·level
        return q_unit / (c.i_fs_a * c.window_s) * c.y_levels

    # -- evaluation -------------------------------------------------------------------------
    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, float))
        if x.ndim != 2 or x.shape[1] != self.rows:
            raise ArrayInputError(f"layer {self.name!r}: inputs have shape {x.shape}, "
                                  f"expected (batch, {self.rows})")
        if not np.all(np.isfinite(x)):
            raise ArrayInputError(f"layer {self.name!r}: inputs hold NaN/inf")
        return x

    def codes(self, x: np.ndarray) -> np.ndarray:
        if self.x_scale_ is None:
            raise RuntimeError(f"layer {self.name!r}: call fit_inputs(x_cal) first (sets the "
                               "input scale and calibrates the ADC outputs)")
        return quantise_inputs(self._check_x(x), self.x_scale_, self.config.x_levels)

    def segment_currents(self, compiled: Any, codes: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Output currents (B, cols, K) in the K segments between the sorted pulse ends of
        the batch, and the segment durations (K,)."""
        mags = np.abs(codes)
        sgn = np.sign(codes).astype(float)
        ends = np.unique(mags[mags > 0])
        cols = compiled.cfg.cols
        if ends.size == 0:
            return np.zeros((codes.shape[0], cols, 1)), np.zeros(1)
        starts = np.concatenate([[0], ends[:-1]])
        dt = (ends - starts) * self.config.t_lsb_s
        # every segment's drive of every vector in one batched call (one large matmul)
        drive = np.where(mags[:, None, :] >= ends[None, :, None], sgn[:, None, :], 0.0)
        cur = compiled.currents(drive.reshape(-1, codes.shape[1]))
        cur = cur.reshape(codes.shape[0], ends.size, cols).transpose(0, 2, 1)
        return cur, dt

    def _tile_codes(self, tile: _Tile, compiled: Any, codes: np.ndarray) -> np.ndarray:
        """8-bit signed ADC codes (B, cols) of one tile for input codes (B, tile rows)."""
        cfg = self.config
        ylim = cfg.y_levels
        if cfg.ideal_adc:
            q = compiled.charges(codes, cfg.t_lsb_s)
            return np.clip(np.rint(q / (cfg.i_fs_a * cfg.window_s) * ylim), -ylim, ylim)
        count = self._tile_counts(tile, compiled, codes, cfg.fast)
        return np.clip(np.rint(np.rint(count) * ylim / self.count_fs_), -ylim, ylim)

    def _tile_counts(self, tile: _Tile, compiled: Any, codes: np.ndarray,
                     fast: bool) -> np.ndarray:
        """ADC counts (B, cols, float: before the counter's rounding) of one tile."""
        if fast:
            return self._tile_counts_fast(compiled, codes)
        return self._tile_counts_exact(tile, compiled, codes)

    def adc_counts(self, x: np.ndarray, fast: bool | None = None) -> list[np.ndarray]:
        """Per tile, the ADC output before rounding (B, tile cols) in LSB of the 8-bit
        output (count x y_levels / full-scale count): the fast path (``fast`` True),
        the segment-exact path (False) or the configured one (None)."""
        codes = self.codes(x)
        self._ready()
        fast = self.config.fast if fast is None else fast
        k = self.config.y_levels / self.count_fs_
        return [self._tile_counts(t, t.compiled, codes[:, t.r0:t.r1], fast) * k
                for t in self.tiles_]

    def _tile_counts_fast(self, compiled: Any, codes: np.ndarray) -> np.ndarray:
        """The fast path (:mod:`aimc.system.array.pwm_fast`): the exact PWM charge of the
        crossbar model as one matmul, the ADC's linear rate times it, plus the count's
        remainder over the current's time profile (sampled; exact near the clamp)."""
        from aimc.system.array.pwm_fast import FastStats, fast_counts

        cfg = self.config
        st = FastStats()
        out = fast_counts(compiled.pwm_rows(), self.tile_model.adc, self.adc_key_, codes,
                          cfg.t_lsb_s, cfg.x_levels, self._adc_slope(), cfg.profile_points,
                          chunk=cfg.batch_chunk, stats=st)
        self.n_segments_ += st.n_steps
        self.n_clamped_ += st.n_clamped
        return out

    def _adc_slope(self) -> float:
        if getattr(self, "_slope_key", None) != self.adc_key_:
            self._slope = self.tile_model.adc.linear_rate(self.adc_key_)
            self._slope_key = self.adc_key_
        return self._slope

    def _tile_counts_exact(self, tile: _Tile, compiled: Any, codes: np.ndarray,
                           chunk: int = 16) -> np.ndarray:
        """Segment-exact: the crossbar model's current in every segment between the
        batch's sorted pulse ends, each converted by the ADC surrogate."""
        adc = self.tile_model.adc
        out = np.empty((codes.shape[0], tile.c1 - tile.c0))
        imax = float(adc.i_max_[adc.keys_.index(self.adc_key_)])
        for s in range(0, codes.shape[0], chunk):
            cur, dt = self.segment_currents(compiled, codes[s:s + chunk])
            over = np.abs(cur) > imax
            self.n_segments_ += over.size
            if over.any():   # the CCO saturates beyond its fitted range (no data there)
                self.n_clamped_ += int(over.sum())
                cur = np.clip(cur, -imax, imax)
            out[s:s + chunk] = adc.count(self.adc_key_, cur, dt, policy="ignore")
        return out

    def analog(self, x: np.ndarray, return_codes: bool = False):
        """The analog path: (B, rows) -> (B, cols) (and the per-tile ADC codes)."""
        return self.analog_codes(self.codes(x), return_codes)

    def analog_codes(self, codes: np.ndarray, return_codes: bool = False):
        """:meth:`analog` of input codes (B, rows) (:meth:`codes`)."""
        self._ready()
        acc = np.zeros((codes.shape[0], self.cols))
        raw = []
        for tile in self.tiles_:
            y8 = self._tile_codes(tile, tile.compiled, codes[:, tile.r0:tile.r1])
            if return_codes:
                raw.append(y8.copy())
            y8 *= tile.a
            y8 += tile.b
            if tile.drift_factor != 1.0:
                y8 *= tile.drift_factor
            acc[:, tile.c0:tile.c1] += y8
        acc *= self.w_step_
        acc *= self.x_scale_ / self.config.x_levels
        return (acc, raw) if return_codes else acc

    def quantised(self, x: np.ndarray, return_codes: bool = False):
        """8-bit inputs, 4-bit weights, an ideal linear 8-bit ADC of the same full scale."""
        return self.quantised_codes(self.codes(x), return_codes)

    def quantised_codes(self, codes: np.ndarray, return_codes: bool = False):
        """:meth:`quantised` of input codes (B, rows)."""
        k = self._k_nom()
        ylim = self.config.y_levels
        acc = np.zeros((codes.shape[0], self.cols))
        raw = []
        for tile in self.tiles_:
            y8 = np.clip(np.rint(_int_matmul(codes[:, tile.r0:tile.r1], tile.q, tile.q32) * k),
                         -ylim, ylim)
            raw.append(y8)
            acc[:, tile.c0:tile.c1] += y8 / k
        y = acc * self.w_step_ * (self.x_scale_ / self.config.x_levels)
        return (y, raw) if return_codes else y

    def exact_quantised(self, x: np.ndarray) -> np.ndarray:
        """The exact matmul of the quantised inputs and weights (no output quantisation):
        the reference of the analog MVM error in the sense of HERMES's 8-bit MVM error."""
        return self.exact_codes(self.codes(x))

    def exact_codes(self, codes: np.ndarray) -> np.ndarray:
        """:meth:`exact_quantised` of input codes (B, rows)."""
        if getattr(self, "_q32", None) is None:
            self._q32 = self.q_.astype(np.float32)
        y = _int_matmul(codes, self.q_, self._q32)
        y *= self.w_step_
        y *= self.x_scale_ / self.config.x_levels
        return y

    def ideal(self, x: np.ndarray) -> np.ndarray:
        return self._check_x(x) @ self.weights

    def full_scale(self) -> np.ndarray:
        """Output full scale (cols,) of one tile's 8-bit ADC in output units."""
        return self.config.y_levels / self._k_nom() * self.w_step_ * (
            self.x_scale_ / self.config.x_levels)


def _affine_fit(y8: np.ndarray, target: np.ndarray, ylim: int, a_nom: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the least-squares line ``target ≈ a·y8 + b`` over the unclipped codes
    (|y8| < ylim) of columns with at least 3 distinct such codes and a positive slope;
    (a_nom, 0) elsewhere. Closed form on centred sums (all columns at once)."""
    y8 = np.asarray(y8, float)
    nc = y8.shape[1]
    a, b = np.full(nc, a_nom), np.zeros(nc)
    m = np.abs(y8) < ylim
    n = m.sum(axis=0)
    # distinct unclipped codes per column: a histogram of the integer codes
    width = 2 * ylim + 1
    idx = (np.rint(y8).astype(np.int64) + ylim) + width * np.arange(nc)[None, :]
    hist = np.bincount(idx[m], minlength=width * nc).reshape(nc, width)
    ok = np.count_nonzero(hist, axis=1) >= 3
    if not ok.any():
        return a, b
    mf = m.astype(float)
    nn = np.maximum(n, 1)
    my = (y8 * mf).sum(axis=0) / nn
    mt = (target * mf).sum(axis=0) / nn
    dy = (y8 - my) * mf
    sxy = (dy * (target - mt)).sum(axis=0)
    sxx = (dy * dy).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = sxy / sxx
    use = ok & (sxx > 0) & (slope > 0)
    a[use] = slope[use]
    b[use] = mt[use] - slope[use] * my[use]
    return a, b


def _int_matmul(a: np.ndarray, b: np.ndarray, b32: np.ndarray | None = None) -> np.ndarray:
    """Integer matmul through float BLAS, exact: float32 while every partial sum is below
    2**24 (8-bit codes x 4-bit levels over up to ~18,000 rows; ``b32``: ``b`` as float32,
    if the caller keeps one), else float64 while below 2**53 (checked); NumPy's integer
    matmul has no BLAS and is ~50x slower. Returns float64."""
    bound = float(np.max(np.abs(a), initial=0)) * float(np.max(np.abs(b), initial=0)) \
        * a.shape[-1]
    if bound >= 2.0 ** 53:
        return a @ b
    if bound < 2.0 ** 24:
        b32 = b.astype(np.float32) if b32 is None else b32
        return (a.astype(np.float32) @ b32).astype(np.float64)
    return a.astype(float, copy=False) @ b.astype(float, copy=False)


def layer_from_weights(weights: np.ndarray, x_cal: np.ndarray, config: ArrayConfig | None = None,
                       tile_model: Any = None, name: str = "layer") -> AnalogLayer:
    """Convenience: build, program and calibrate a layer in one call."""
    layer = AnalogLayer(weights, config or ArrayConfig(), tile_model, name)
    return layer.fit_inputs(x_cal)
