"""Calibrate a finished training run again with another prior correction (no retraining).

    python scripts/recalibrate.py RUN_DIR --prior-correction S [--write]

Prints validation, scaffold-test and transfer micro/macro-F1 (at 0.5 and at the tuned
thresholds) with the new calibration (:mod:`mspectmol.training.recalibrate`); ``--write``
stores it in the run's model, ``metrics.json`` and ``config.json``.
"""

from __future__ import annotations

import argparse
import logging

from mspectmol.training.recalibrate import recalibrate_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--prior-correction", type=float, required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    metrics = recalibrate_run(args.run, args.prior_correction, write=args.write)
    rows = [(part, metrics[part]) for part in ("val", "test")]
    rows += [(f"transfer, {k}", v) for k, v in metrics.get("transfer", {}).items()]
    print(f"prior correction {args.prior_correction:g}: micro / macro-F1")
    for name, m in rows:
        tuned = m.get("tuned")
        print(f"  {name}: at 0.5 {m['at_0.5']['micro_f1']:.3f} / {m['at_0.5']['macro_f1']:.3f}"
              + (f"; tuned {tuned['micro_f1']:.3f} / {tuned['macro_f1']:.3f}" if tuned else ""))


if __name__ == "__main__":
    main()
