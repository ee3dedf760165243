"""Cardiac twin speed: how many simulated milliseconds per wall-clock second, at 10k, 30k and 100k points.

Prints one JSON line per figure ({"case", "metric", "value", "unit", "baseline", "ratio"}):
- kernel compile time in a fresh process, cold (empty numba cache) and from the on-disk cache;
- per simulated mesh (``lv_lattice``: the default 8k points, then ~10k, ~30k, ~100k points) and
  thread count (1, 2): wall ms per internal step and the real-time factor (simulated ms per wall
  second / 1000; 1.0 = real time), with the numpy reference kernel on the same mesh as baseline;
- the starting point (numpy, ``lv_tetra(60)``, 10,806 points, implicit CG at dt 0.1 ms) as the
  baseline of the ~10k case;
- the default LV twin (``build_lv_twin``) streamed to a ~100k-vertex surface: 30 frames/s of
  ``step(33.3 ms)`` + ``outputs()`` (P1 interpolation), real-time factor and output ms per frame.

Each figure is the best of three windows (other processes on a 2-core machine add noise).
Run: ``python benchmarks/cardiac_speed.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

from report import emit

from vizserver.anatomy.lv import lv_lattice, lv_surface, lv_tetra
from vizserver.model import UnstructuredMesh
from vizserver.twins.cardiac import LV_DT_MS, CardiacTwin, build_lv_twin

WARM_UP_MS = 5.0
WINDOWS = 3
FRAME_MS = 1000.0 / 30.0
SURFACE_RESOLUTION_100K = 308
"""``lv_surface(308)`` has 102,206 vertices."""
CASES = (("default_8k", 64), ("10k", 72), ("30k", 104), ("100k", 160))
"""``lv_lattice`` resolutions: 8,033 / 10,941 / ~30k / ~100k points."""
STARTING_POINT_RESOLUTION = 60
"""``lv_tetra(60)``: 10,806 points, the mesh the numpy twin ran at ~0.03x before this benchmark."""


def compile_seconds(threads: int, cache_dir: str) -> float:
    """Kernel compile (or cache load) time in a fresh interpreter using ``cache_dir`` as numba's cache."""
    code = f"from vizserver.twins import kernels; print(kernels.compile_kernels({threads}))"
    env = os.environ | {"NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def realtime(twin: CardiacTwin, simulated_ms: float) -> tuple[float, float]:
    """(wall ms per internal step, real-time factor): the best of ``WINDOWS`` windows splitting
    ``simulated_ms``, after a short warm-up (other processes on a 2-core machine add noise)."""
    twin.step(WARM_UP_MS)
    window = simulated_ms / WINDOWS
    wall = math.inf
    for _ in range(WINDOWS):
        start = time.perf_counter()
        twin.step(window)
        wall = min(wall, time.perf_counter() - start)
    return 1000.0 * wall / (window / twin.dt_ms), window / 1000.0 / wall


def bench_mesh(case: str, mesh: UnstructuredMesh, simulated_ms: float, baseline: tuple[str, float] | None) -> None:
    reference = CardiacTwin(mesh, dt_ms=LV_DT_MS, kernel="numpy")
    ref_step, ref_rt = realtime(reference, simulated_ms / 4)
    name = f"{case}_{mesh.n_points}pts_{reference.diffusion_substeps}sub"
    emit(name, "numpy_step", ref_step, "ms")
    emit(name, "numpy_realtime", ref_rt, "x")
    for threads in (1, 2):
        twin = CardiacTwin(mesh, dt_ms=LV_DT_MS, threads=threads)
        step_ms, rt = realtime(twin, simulated_ms)
        emit(f"{name}_{threads}thread", "step", step_ms, "ms", "numpy kernel, same mesh", ref_step)
        emit(f"{name}_{threads}thread", "realtime", rt, "x", "numpy kernel, same mesh", ref_rt)
        if baseline is not None:
            emit(f"{name}_{threads}thread", "realtime", rt, "x", *baseline)


def bench_streamed(simulated_ms: float) -> None:
    surface = lv_surface(SURFACE_RESOLUTION_100K)
    for threads in (1, 2):
        start = time.perf_counter()
        twin = build_lv_twin(SURFACE_RESOLUTION_100K, threads=threads)
        build_s = time.perf_counter() - start
        frames = max(1, round(simulated_ms / FRAME_MS / WINDOWS))
        twin.step(WARM_UP_MS)
        output_s, wall = math.inf, math.inf
        for _ in range(WINDOWS):
            spent = 0.0
            start = time.perf_counter()
            for _ in range(frames):
                twin.step(FRAME_MS)
                t0 = time.perf_counter()
                twin.outputs()
                spent += time.perf_counter() - t0
            wall = min(wall, time.perf_counter() - start)
            output_s = min(output_s, spent)
        case = f"lv_twin_{len(twin.points)}pts_to_{surface.n_points}vertices_{threads}thread"
        emit(case, "build", build_s, "s")
        emit(case, "outputs_per_frame", 1000.0 * output_s / frames, "ms")
        emit(case, "realtime_with_outputs", frames * FRAME_MS / 1000.0 / wall, "x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter windows; every figure still printed")
    args = parser.parse_args()
    simulated_ms = 60.0 if args.quick else 300.0
    with tempfile.TemporaryDirectory() as cache:
        for threads in (1, 2):
            emit(f"compile_{threads}thread", "cold", compile_seconds(threads, cache), "s")
            emit(f"compile_{threads}thread", "cached", compile_seconds(threads, cache), "s")
    start_twin = CardiacTwin(lv_tetra(STARTING_POINT_RESOLUTION), dt_ms=0.1, kernel="numpy")
    start_step, start_rt = realtime(start_twin, 10.0 if args.quick else 30.0)
    start_case = f"starting_point_lv_tetra{STARTING_POINT_RESOLUTION}_{len(start_twin.points)}pts_numpy_implicit"
    emit(start_case, "step", start_step, "ms")
    emit(start_case, "realtime", start_rt, "x")
    for case, resolution in CASES:
        big = resolution > 100
        baseline = ("numpy lv_tetra(60) implicit (the starting point)", start_rt) if case == "10k" else None
        bench_mesh(case, lv_lattice(resolution), simulated_ms / (10 if big else 1), baseline)
    bench_streamed(simulated_ms)


if __name__ == "__main__":
    main()
