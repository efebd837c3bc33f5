"""Benchmark: accuracy against arithmetic and time for trained PA-IB architectures.

For each run folder given (``mspectmol train`` output: ``model/`` and ``metrics.json``), one
row: channels and kernel, multiply-accumulates per sample
(:func:`mspectmol.models.flops.pa_ib_macs`), parameters, the forward-pass time of 10,000
molecules x 3 spectra in float32 (torch, batches of 256, inputs already on the 600-point
grids, so only the network differs between rows), validation micro/macro-F1 at 0.5 (the
early-stopping figures), scaffold-test micro/macro-F1 with tuned thresholds, and transfer
micro-F1 (all spectra, IR alone) when the run measured it. Rows are timed in turns,
``--rounds`` times each, and the medians are printed with the ratio to the first run folder
(the baseline) measured in the same run.

    python benchmarks/bench_architecture.py RUN_DIR [RUN_DIR ...] [--n 10000] [--threads 2]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mspectmol.models.flops import pa_ib_macs
from mspectmol.models.io import load_model
from mspectmol.models.precision import cpu_description


def _f1(metrics: dict, part: str, setting: str) -> tuple[float, float] | None:
    block = metrics.get(part, {}).get(setting)
    return None if block is None else (block["micro_f1"], block["macro_f1"])


def _transfer(metrics: dict, key: str) -> float | None:
    block = metrics.get("transfer", {}).get(key)
    return None if block is None else block["at_0.5"]["micro_f1"]


def _pair(pair: tuple[float, float] | None) -> str:
    return "-" if pair is None else f"{pair[0]:.3f} / {pair[1]:.3f}"


def _time(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], n: int) -> float:
    with torch.inference_mode():
        model(batches[0])  # warm-up
        t0 = time.perf_counter()
        for batch in batches:
            torch.sigmoid(model(batch).logits)
        return (time.perf_counter() - t0) * 10_000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders; the first is the "
                        "baseline of the ratios")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_description()}; {args.threads} torch threads; {args.n} molecules, "
          f"batches of 256, float32; {args.rounds} rounds, alternating, medians")
    models, rows = [], []
    for run in args.runs:
        module, _ = load_model(run / "model" if (run / "model").is_dir() else run)
        module.eval()
        metrics_path = run / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        models.append(module)
        rows.append({"run": str(run), "config": module.config.to_dict(), "metrics": metrics,
                     "params": sum(p.numel() for p in module.parameters()), "times": []})
    rng = np.random.default_rng(0)
    modalities = models[0].config.modalities
    batches = [{m: torch.from_numpy(rng.random((min(256, args.n - i), 600),
                                               dtype=np.float32) ** 8) for m in modalities}
               for i in range(0, args.n, 256)]
    for _ in range(args.rounds):
        for module, row in zip(models, rows, strict=True):
            row["times"].append(_time(module, batches, args.n))
    base = statistics.median(rows[0]["times"])
    print("\n| run | channels | kernel | MMAC/sample | params | s per 10k | ratio | "
          "val micro / macro | test micro / macro (tuned) | transfer all / IR |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|---|")
    for row in rows:
        cfg, metrics = row["config"], row["metrics"]
        seconds = statistics.median(row["times"])
        val, test = _f1(metrics, "val", "at_0.5"), _f1(metrics, "test", "tuned")
        all_, ir = _transfer(metrics, "all spectra"), _transfer(metrics, "ir alone")
        transfer = "-" if all_ is None else f"{all_:.3f} / {'-' if ir is None else f'{ir:.3f}'}"
        print(f"| {row['run']} | {cfg['channels']} | {cfg['kernel_size']} | "
              f"{pa_ib_macs(cfg)['total'] / 1e6:.2f} | {row['params']:,} | {seconds:.2f} | "
              f"{seconds / base:.2f} | {_pair(val)} | {_pair(test)} | {transfer} |")


if __name__ == "__main__":
    main()
