"""Benchmark: CPU inference of PA-IB against the 1D-CNN, preprocessing from arrays included.

Target: 10,000 molecules with 3 modalities (IR primary, 1H and 13C NMR auxiliary) in at most
2 s in float32 on 2 CPU cores. PA-IB rows run the packaged default model's architecture
(:func:`default_architecture`, random weights). Inputs are raw arrays in the layout of the
Alberts et al. dataset (IR 1800 points ascending 400-4000 cm-1; NMR 10,000 points descending),
so the time covers resampling onto the 600-point grids, max-normalisation and the forward pass
in batches of 256. The resampling is that of the one preprocessing path
(:func:`mspectmol.spectra.batch.plan_resampling`: cell means, NMR rendered at the training line
width); the same model with the paper's point interpolation (eq. 3,
:func:`~mspectmol.spectra.batch.plan_interpolation`) runs beside it and the ratio is printed.
Each configuration runs in a fresh process so peak memory (max RSS) is its own.

Precision: ``auto`` is :func:`mspectmol.models.precision.choose_precision` (bfloat16 only
where the CPU has it natively), run beside float32; ``bf16`` forces bfloat16. The ``avx2``
rows run the same in a process whose torch is limited to AVX2 kernels
(``ATEN_CPU_CAPABILITY=avx2``), as on a CPU without AVX-512 and bfloat16: there ``auto`` must
not be slower than float32.

Batches: ``pa_ib fp32 Nx1 batches`` is the same model, inputs and resampling with whole
batches (resampling included) spread over ``--threads`` threads of one torch thread each
(:func:`mspectmol.models.parallel.map_batches`, as
:func:`mspectmol.models.inference.predict_logits` runs a model on the CPU), beside the plain
``pa_ib fp32`` row whose batches go one after the other, each operation split over
``--threads`` torch threads.

Engine: ``pa_ib numpy`` is the same model (same seed, its weights handed to
:class:`mspectmol.models.numpy_pa_ib.NumpyPAIB`, the engine of ``mspectmol predict``), the same
inputs, resampling and batches, in float32 with ``--threads`` BLAS threads; its logits are
checked against the torch module's on one batch before the timing. Its ``avx2`` row limits
NumPy instead of torch: OpenBLAS's kernels to Haswell's (``OPENBLAS_CORETYPE=Haswell``) and
NumPy's own dispatch to AVX2 (``NPY_DISABLE_CPU_FEATURES``: its AVX-512 targets), the
resampling included.

    python benchmarks/bench_inference.py [--n 10000] [--n-cnn 2000] [--threads 2] [--no-avx2]
        [--no-numpy]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

import numpy as np

from mspectmol.models.precision import cpu_description

#: Seconds per 10,000 molecules in float32 on 2 cores (the issue's target).
TARGET_FP32 = 2.0
AXES = {"ir": np.linspace(400.0, 4000.0, 1800), "h_nmr": np.linspace(10.0, -2.0, 10000),
        "c_nmr": np.linspace(230.0, -20.0, 10000)}


def _raw(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {m: rng.random((n, x.size), dtype=np.float32) ** 8 for m, x in AXES.items()}


def _measure(model_name: str, n: int, threads: int, precision: str, resampling: str,
             workers: int, queue) -> None:
    import torch

    from mspectmol.models.baselines_nn import MultiModalCNN
    from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
    from mspectmol.models.parallel import map_batches
    from mspectmol.models.precision import choose_precision
    from mspectmol.spectra.batch import (
        ResamplingPlan,
        normalise_rows_max,
        plan_interpolation,
        plan_resampling,
    )
    from mspectmol.spectra.preprocessing import canonical_grid

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    chosen = choose_precision("cpu", "fp32" if precision == "numpy" else precision)
    bf16 = chosen.dtype is torch.bfloat16
    if model_name == "pa_ib":
        model = PAIBModel(PAIBConfig.from_dict(default_architecture()))
    else:
        model = MultiModalCNN(("ir", "h_nmr", "c_nmr"), fusion="concat")
    model.eval()
    raw = _raw(n)
    if resampling == "cells":
        plans = {m: plan_resampling(x, canonical_grid(m, 600), m) for m, x in AXES.items()}
    else:  # the paper's eq. 3 alone
        plans = {m: ResamplingPlan(None, plan_interpolation(x, canonical_grid(m, 600)), None,
                                   False) for m, x in AXES.items()}
    params = sum(p.numel() for p in model.parameters())
    if precision == "numpy":
        model = _numpy_model(model, {m: normalise_rows_max(plans[m].apply(raw[m][:256]))
                                     for m in AXES}, threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bs = 256

    def one(i: int) -> torch.Tensor:
        batch = {m: torch.from_numpy(normalise_rows_max(plans[m].apply(raw[m][i:i + bs])))
                 for m in AXES}
        out = model(batch)
        return torch.sigmoid((out.logits if hasattr(out, "logits") else out).float())

    def run(count: int) -> float:
        if precision == "numpy":
            return _run_numpy(model, plans, raw, count, bs)
        if workers > 1:  # whole batches on threads with one torch thread each
            t0 = time.perf_counter()
            map_batches(lambda k: one(k * bs), -(-count // bs), workers)
            return time.perf_counter() - t0
        t0 = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(0, count, bs):
                one(i)
        return time.perf_counter() - t0

    run(min(n, 2 * bs))  # warm-up
    seconds = run(n)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, peak / 1024, (peak - rss0) / 1024, params, chosen.name))


def default_architecture() -> dict:
    """The packaged default model's config (IR primary, 1H and 13C auxiliary): the network
    every PA-IB row measures, with random weights of the same seed."""
    from mspectmol.models.inference import find_model
    from mspectmol.models.io import read_meta

    return read_meta(find_model(None)).config


def _numpy_model(module, batch: dict[str, np.ndarray], threads: int):
    """The NumPy engine's copy of the torch PA-IB ``module`` (BLAS limited to ``threads``),
    its logits checked against the module's on ``batch``."""
    import dataclasses

    import torch
    from threadpoolctl import threadpool_limits

    from mspectmol.models.numpy_pa_ib import NumpyPAIB

    weights = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    model = NumpyPAIB(dataclasses.asdict(module.config), weights)
    threadpool_limits(limits=threads, user_api="blas")
    with torch.inference_mode():
        want = module({m: torch.from_numpy(x) for m, x in batch.items()}).logits.numpy()
    got = model.forward(batch).logits
    if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
        raise SystemExit(f"NumPy and torch logits differ by {np.abs(got - want).max():.3g}")
    return model


def _run_numpy(model, plans, raw: dict[str, np.ndarray], count: int, bs: int) -> float:
    """Seconds for ``count`` molecules through the NumPy engine, as the torch loop does."""
    from mspectmol.models.numpy_layers import sigmoid
    from mspectmol.spectra.batch import normalise_rows_max

    t0 = time.perf_counter()
    for i in range(0, count, bs):
        batch = {m: normalise_rows_max(plans[m].apply(raw[m][i:i + bs])) for m in AXES}
        sigmoid(model.forward(batch).logits)
    return time.perf_counter() - t0


def _avx2_numpy_env() -> dict[str, str]:
    """Environment limiting NumPy to AVX2: OpenBLAS's Haswell kernels and NumPy's dispatch
    targets beyond AVX2 disabled (those this NumPy has)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__ as targets
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__ as targets
    beyond = [t for t in targets if "512" in t or t in ("X86_V4", "AVX512_SKX")]
    return {"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": " ".join(beyond)}


def measure(model_name: str, n: int, threads: int, precision: str, resampling: str = "cells",
            capability: str | None = None, workers: int = 1
            ) -> tuple[float, float, float, int, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(model_name, n, threads, precision, resampling,
                                              workers, queue))
    env = {}
    if capability:
        env = (_avx2_numpy_env() if precision == "numpy"
               else {"ATEN_CPU_CAPABILITY": capability})
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        proc.start()
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--n-cnn", type=int, default=2_000,
                        help="molecules for the (slow, 156M-parameter) CNN; scaled to --n")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-bf16", action="store_true",
                        help="skip the forced-bf16 row (slow on CPUs without native bf16)")
    parser.add_argument("--no-avx2", action="store_true",
                        help="skip the rows limited to AVX2 kernels")
    parser.add_argument("--no-numpy", action="store_true",
                        help="skip the rows of the NumPy engine")
    args = parser.parse_args()
    rows = []
    w = args.threads
    configs = [("pa_ib", args.n, "fp32", "interpolation", None, 1),
               ("pa_ib", args.n, "fp32", "cells", None, 1),
               ("pa_ib", args.n, "auto", "cells", None, 1)]
    if w > 1:
        configs.append(("pa_ib", args.n, "fp32", "cells", None, w))
    if not args.no_bf16:
        configs.append(("pa_ib", args.n, "bf16", "cells", None, 1))
    if not args.no_avx2:
        configs += [("pa_ib", args.n, "fp32", "cells", "avx2", 1),
                    ("pa_ib", args.n, "auto", "cells", "avx2", 1)]
        if w > 1:
            configs.append(("pa_ib", args.n, "fp32", "cells", "avx2", w))
    if not args.no_numpy:
        configs.append(("pa_ib", args.n, "numpy", "cells", None, 1))
        if not args.no_avx2:
            configs.append(("pa_ib", args.n, "numpy", "cells", "avx2", 1))
    configs.append(("cnn", args.n_cnn, "fp32", "cells", None, 1))
    for name, n, precision, resampling, capability, workers in configs:
        sec, peak, delta, params, chosen = measure(name, n, args.threads, precision,
                                                   resampling, capability, workers)
        per_10k = sec * 10_000 / n
        label = (f"{name} {precision}" + (f"={chosen}" if precision == "auto" else "")
                 + (" eq.3" if resampling != "cells" else "")
                 + (f" {workers}x1 batches" if workers > 1 else "")
                 + (f" [{capability}]" if capability else ""))
        rows.append((label, n, sec, per_10k, n / sec, peak, delta, params))
    print(f"CPU: {cpu_description()}; {args.threads} threads")
    print(f"{'model':<32} {'n':>6} {'seconds':>8} {'s per 10000':>12} {'mol/s':>8} "
          f"{'peak MB':>8} {'+MB':>6} {'params':>11}")
    for r in rows:
        print(f"{r[0]:<32} {r[1]:>6} {r[2]:>8.2f} {r[3]:>12.2f} {r[4]:>8.0f} {r[5]:>8.0f} "
              f"{r[6]:>6.0f} {r[7]:>11,}")
    print(f"cell-means resampling vs point interpolation (PA-IB fp32): "
          f"{rows[1][3] / rows[0][3]:.2f}x the time")
    for suffix in ("", " [avx2]"):
        fp32 = next((r for r in rows if r[0] == f"pa_ib fp32{suffix}"), None)
        auto = next((r for r in rows if r[0].startswith("pa_ib auto=")
                     and r[0].endswith(suffix) and (suffix or not r[0].endswith("]"))), None)
        if fp32 and auto:
            print(f"{auto[0]} vs {fp32[0]}: {auto[3] / fp32[3]:.2f}x the time")
        batches = next((r for r in rows if r[0] == f"pa_ib fp32 {w}x1 batches{suffix}"), None)
        if fp32 and batches:
            print(f"{batches[0]} vs {fp32[0]}: {batches[3] / fp32[3]:.2f}x the time")
        numpy = next((r for r in rows if r[0] == f"pa_ib numpy{suffix}"), None)
        if fp32 and numpy:
            print(f"{numpy[0]} vs {fp32[0]}: {numpy[3] / fp32[3]:.2f}x the time")
    base = rows[-1][4]
    for r in rows[:-1]:
        target = (f"; target <= {TARGET_FP32:g} s per 10,000 in float32: "
                  f"{'met' if r[3] <= TARGET_FP32 else 'NOT met'}"
                  if "fp32" in r[0] or "numpy" in r[0] else "")
        print(f"{r[0]}: {r[4] / base:.1f}x the 1D-CNN's throughput ({r[3]:.2f} s){target}")


if __name__ == "__main__":
    main()
