"""Benchmark: cold ``mspectmol predict`` of one sample (IR + 1H + 13C), JSON and HTML output.

Each run is a fresh ``python -m mspectmol predict`` process on the aspirin example files
(``--format json`` or ``--format html``, ``--no-progress``), timed from start to exit, so the
time includes the interpreter, every import, reading the model, preparing the spectra, the
prediction with its regions and writing the report. Configurations: this tree with its
default engine (NumPy for the packaged PA-IB model), this tree with ``--engine torch``, and
with ``--baseline-src DIR`` another source tree (e.g. ``git archive`` of an earlier commit
unpacked in DIR) run with this interpreter. The configurations alternate run by run, so all
see the same load; one untimed run of each comes first (bytecode caches, page cache). The
target is at most 1.5 s for JSON on a 2-core machine. Medians, minima and maxima are
printed as a Markdown table with the CPU and the load average before and after.

    python benchmarks/bench_predict_cold.py [--runs 9] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mspectmol
from mspectmol.models.precision import cpu_description

EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"
FILES = {"--ir": "aspirin_ir.jdx", "--h-nmr": "aspirin_h_nmr.jdx", "--c-nmr": "aspirin_c_nmr.csv"}
TARGET_S = 1.5


def _command(fmt: str, out: Path, engine: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "mspectmol", "predict", "--format", fmt, "--no-progress",
           "-o", str(out)]
    for option, name in FILES.items():
        cmd += [option, str(EXAMPLES / name)]
    return cmd + (["--engine", engine] if engine else [])


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src / "src"), env.get("PYTHONPATH", "")])
    return env


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per configuration")
    parser.add_argument("--baseline-src", type=Path, default=None, metavar="DIR",
                        help="another source tree (holding src/mspectmol) to time beside")
    parser.add_argument("--formats", default="json,html", help="report formats timed")
    args = parser.parse_args()
    if args.baseline_src is not None and not (args.baseline_src / "src" / "mspectmol").is_dir():
        parser.error(f"--baseline-src {args.baseline_src}: no src/mspectmol there")
    configs = [("this tree, default engine", None, None),
               ("this tree, --engine torch", None, "torch")]
    if args.baseline_src is not None:
        configs.insert(0, (f"baseline {args.baseline_src}", args.baseline_src, None))
    formats = args.formats.split(",")
    times: dict[tuple[str, str], list[float]] = {}
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for fmt in formats:
            for _label, src, engine in configs:  # untimed: caches
                _time(_command(fmt, out / "warm", engine), _env(src))
        for _ in range(args.runs):
            for fmt in formats:
                for label, src, engine in configs:
                    seconds = _time(_command(fmt, out / label[:4], engine), _env(src))
                    times.setdefault((label, fmt), []).append(seconds)
    print(f"CPU: {cpu_description()}; {os.cpu_count()} CPUs; load average (1/5/15 min) "
          f"{load_before} before, {_load()} after; {args.runs} runs each, alternating")
    print()
    print("| configuration | format | median s | min s | max s | target <= 1.5 s (JSON) |")
    print("|---|---|---:|---:|---:|---|")
    for (label, fmt), values in times.items():
        med = statistics.median(values)
        verdict = ("met" if med <= TARGET_S else "not met") if fmt == "json" else ""
        print(f"| {label} | {fmt} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | "
              f"{verdict} |")


if __name__ == "__main__":
    main()
