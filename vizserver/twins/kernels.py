"""Compiled (numba) inner loop of the cardiac twin: reaction, stimulus and explicit diffusion fused.

The numpy path in ``cardiac.py`` is the reference; this one computes the same splitting step with
fewer passes over memory and on every core:

* the diffusion operator ``A = I - dt_sub M^-1 K`` is stored as :class:`HybridEll`: a fixed
  ``ELL_WIDTH`` entries per row (padded with zeros; a Kuhn lattice has at most 15 per row, so the
  compiler unrolls and vectorises the row) plus CSR for the rest of longer rows (the apex fan of a
  ``lv_tetra`` mesh), about 3x faster than a CSR loop;
* one parallel loop per diffusion sub-step; the last sub-step of a step also clamps scar, records
  activation times and does the next step's reaction for its row, so a step with one sub-step
  reads and writes each array once.

Compilation takes a few seconds the first time and is cached on disk (``cache=True``) next to this
file; :func:`compile_kernels` triggers it ahead of the first step.
"""

from __future__ import annotations

import functools
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

# OpenMP first: Debian's TBB is older than numba accepts, and trying it first only prints a warning.
numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]  # type: ignore[attr-defined]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

ELL_WIDTH = 16


@dataclass(frozen=True, slots=True)
class HybridEll:
    """A square sparse matrix as ELL (``ELL_WIDTH`` per row) plus CSR for the rows that are longer."""

    ell_columns: IndexArray
    """``(n, ELL_WIDTH)``; padding points at the row itself with value 0."""
    ell_values: FloatArray
    overflow_rows: IndexArray
    """Rows with more than ``ELL_WIDTH`` entries; their extra entries, CSR over these rows:"""
    overflow_indptr: IndexArray
    overflow_columns: IndexArray
    overflow_values: FloatArray

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> HybridEll:
        a = sp.csr_matrix(matrix)
        a.sort_indices()
        n = a.shape[0]
        counts = np.diff(a.indptr)
        rows = np.repeat(np.arange(n), counts)
        position = np.arange(a.nnz) - a.indptr[rows]
        in_ell = position < ELL_WIDTH
        columns = np.repeat(np.arange(n, dtype=np.int32)[:, None], ELL_WIDTH, axis=1)
        values = np.zeros((n, ELL_WIDTH))
        columns[rows[in_ell], position[in_ell]] = a.indices[in_ell]
        values[rows[in_ell], position[in_ell]] = a.data[in_ell]
        long_rows = np.flatnonzero(counts > ELL_WIDTH).astype(np.int32)
        indptr = np.concatenate([[0], np.cumsum(counts[long_rows] - ELL_WIDTH)]).astype(np.int32)
        return cls(columns, values, long_rows, indptr, a.indices[~in_ell].astype(np.int32),
                   np.ascontiguousarray(a.data[~in_ell], dtype=np.float64))


@numba.njit(cache=True, inline="always")
def _beat_start(t, beat_start, cycle_length):  # type: ignore[no-untyped-def]
    if t >= beat_start + cycle_length - 1e-9:
        beat_start += cycle_length * np.floor((t - beat_start) / cycle_length + 1e-9)
    return beat_start


def _advance_source(  # type: ignore[no-untyped-def]
    n_steps, h, substeps, m_cols, m_vals, o_rows, o_ptr, o_cols, o_vals,
    u, v, buffer, pace, dead, activation, t, beat_start,
    cycle_length, stim_duration, stim_amplitude, k, a, eps0, mu1, mu2, t_scale, threshold,
):
    """Compiled twice, serial and parallel (below). ``buffer[0]`` holds u after the reaction."""
    n = u.shape[0]
    scale = h / t_scale
    w = buffer[0]
    y = buffer[1]
    beat_start = _beat_start(t, beat_start, cycle_length)
    stim = stim_amplitude if t - beat_start < stim_duration else 0.0
    for i in numba.prange(n):
        ui, vi = u[i], v[i]
        eps = eps0 + mu1 * vi / (ui + mu2)
        w[i] = ui + scale * (-k * ui * (ui - a) * (ui - 1.0) - ui * vi + stim * pace[i])
        v[i] = vi + scale * eps * (-vi - k * ui * (ui - a - 1.0))
    for step in range(n_steps):
        react = step + 1 < n_steps
        for sub in range(substeps):
            for i in numba.prange(n):  # y = A w: ELL part, unrolled
                acc = 0.0
                for e in range(16):  # ELL_WIDTH
                    acc += m_vals[i, e] * w[m_cols[i, e]]
                y[i] = acc
            for r in range(o_rows.shape[0]):  # CSR overflow of the few long rows
                i = o_rows[r]
                for p in range(o_ptr[r], o_ptr[r + 1]):
                    y[i] += o_vals[p] * w[o_cols[p]]
            if sub + 1 < substeps:
                for i in numba.prange(n):
                    w[i] = y[i]
        t_next = t + h
        next_beat = _beat_start(t_next, beat_start, cycle_length)
        next_stim = stim_amplitude if t_next - next_beat < stim_duration else 0.0
        for i in numba.prange(n):  # scar, activation time, then the next step's reaction
            un = 0.0 if dead[i] else y[i]
            vi = 0.0 if dead[i] else v[i]
            uo = u[i]
            crossed = uo < threshold and un >= threshold
            activation[i] = t + h * (threshold - uo) / (un - uo) - beat_start if crossed else activation[i]
            u[i] = un
            if react:
                eps = eps0 + mu1 * vi / (un + mu2)
                w[i] = un + scale * (-k * un * (un - a) * (un - 1.0) - un * vi + next_stim * pace[i])
                v[i] = vi + scale * eps * (-vi - k * un * (un - a - 1.0))
            else:
                v[i] = vi
        t = t_next
        beat_start = next_beat
    return t, beat_start


def _renamed(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A copy of ``function`` under another name: numba's disk cache is keyed by the function's
    qualified name but not by ``parallel``, so the serial and parallel builds need different names."""
    code = function.__code__.replace(co_name=name, co_qualname=name)
    copy: Callable[..., Any] = types.FunctionType(code, function.__globals__, name, function.__defaults__)
    return copy


# No fastmath: re-associating the short row sums made them slower here (and less like the numpy reference).
_advance_serial = numba.njit(cache=True)(_renamed(_advance_source, "_advance_serial"))
_advance_parallel = numba.njit(cache=True, parallel=True)(_renamed(_advance_source, "_advance_parallel"))


@dataclass(slots=True)
class ModelConstants:
    """Aliev-Panfilov constants and the pacing protocol, in the twin's units (ms, model units)."""

    k: float
    a: float
    eps0: float
    mu1: float
    mu2: float
    t_scale_ms: float
    cycle_length: float
    stim_duration: float
    stim_amplitude: float
    threshold: float


def advance(
    n_steps: int,
    h: float,
    substeps: int,
    operator: HybridEll,
    state: tuple[FloatArray, FloatArray, FloatArray],
    pace: FloatArray,
    dead: BoolArray,
    constants: ModelConstants,
    clock: tuple[float, float],
    buffer: FloatArray,
    threads: int = 1,
) -> tuple[float, float]:
    """``n_steps`` splitting steps of ``h`` ms, each with ``substeps`` applications of ``operator``.

    ``state`` = (u, v, activation), updated in place; ``pace`` is 1.0 on pacing sites, else 0.0;
    ``clock`` = (time, start of the current beat), returned advanced. ``buffer`` is ``(2, n)`` scratch.
    ``threads`` > 1 runs the parallel build on that many threads (at most numba's thread count),
    where numba has a real threading layer (OpenMP or TBB); otherwise the serial build runs.
    """
    u, v, activation = state
    c = constants
    kernel = _advance_serial
    if threads > 1 and parallel_available():
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        kernel = _advance_parallel
    t, beat = kernel(
        n_steps, h, substeps, operator.ell_columns, operator.ell_values, operator.overflow_rows,
        operator.overflow_indptr, operator.overflow_columns, operator.overflow_values, u, v, buffer, pace, dead,
        activation, clock[0], clock[1], c.cycle_length, c.stim_duration, c.stim_amplitude, c.k, c.a, c.eps0, c.mu1,
        c.mu2, c.t_scale_ms, c.threshold,
    )
    return float(t), float(beat)


@functools.cache
def parallel_available() -> bool:
    """Whether numba runs parallel loops on OpenMP or TBB (its fallback, 'workqueue', costs ~60 us
    per parallel loop, far more than it saves at these sizes)."""
    _touch_parallel(np.zeros(4))
    return str(numba.threading_layer()) in ("omp", "tbb")  # type: ignore[attr-defined]


@numba.njit(cache=True, parallel=True)
def _touch_parallel(x):  # type: ignore[no-untyped-def]
    for i in numba.prange(x.shape[0]):
        x[i] += 1.0


def compile_kernels(threads: int = 1) -> float:
    """Compile (or load from the on-disk cache) the kernel ``advance`` will use; returns the seconds it took."""
    start = time.perf_counter()
    operator = HybridEll.from_csr(sp.identity(2, format="csr"))
    state = (np.zeros(2), np.zeros(2), np.full(2, np.nan))
    constants = ModelConstants(8.0, 0.15, 0.002, 0.2, 0.3, 12.9, 800.0, 5.0, 20.0, 0.5)
    advance(1, 0.1, 1, operator, state, np.zeros(2), np.zeros(2, dtype=bool), constants, (0.0, 0.0),
            np.zeros((2, 2)), threads)
    return time.perf_counter() - start
