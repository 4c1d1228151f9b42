"""Warm start vs cold start, side by side in one run: a model trained on a seeded half-hourly seasonal series,
then a week of new rows arrives; the new model is trained from random weights (cold) and from the first
model's weights (warm). Prints, for each, the epochs and seconds until its validation loss first reaches the
cold model's best, and its best validation loss and test MAE.

    python benchmarks/bench_warm_start.py [--seeds 2] [--weeks 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bench_forecast import run_case

from movavg.samples import synthetic_series
from movavg.schema import TrainResult

SETTINGS = ["window.lookback=52", "window.ma_window=5", "window.horizon=5", "evaluate.backtest_folds=0"]


def time_to(history: dict[str, list[float]], result: TrainResult, target: float) -> tuple[int | None, float | None]:
    """(epochs, seconds) until val_loss first reached `target` (seconds pro rata over the epochs run)."""
    for epoch, loss in enumerate(history["val_loss"], start=1):
        if loss <= target:
            return epoch, result.train_seconds * epoch / len(history["val_loss"])
    return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=20)
    args = parser.parse_args()
    for seed in range(args.seeds):
        full = synthetic_series(48 * 7 * (args.weeks + 1), seed=seed, freq="30min", kind="seasonal")
        with tempfile.TemporaryDirectory() as tmp:
            first = run_case(full.iloc[: 48 * 7 * args.weeks], SETTINGS, Path(tmp) / "first")
            runs = {
                mode: run_case(
                    full,
                    [*SETTINGS, f"train.warm_start={mode == 'warm'}".lower()],
                    Path(tmp) / mode,
                    champion_dir=str(Path(tmp) / "first" / "model") if mode == "warm" else None,
                )
                for mode in ("cold", "warm")
            }
            histories = {mode: json.loads((Path(tmp) / mode / "model" / "history.json").read_text()) for mode in runs}
        target = min(histories["cold"]["val_loss"])
        print(
            f"\nseasonal, seed {seed}: first model on {args.weeks} weeks, then one new week "
            f"(first model {first['epochs']} epochs)"
        )
        for mode, run in runs.items():
            epochs, seconds = time_to(histories[mode], run["trained"], target)
            reached = f"{epochs} epochs, {seconds:.1f} s" if epochs else "never"
            print(
                f"  {mode}: to the cold best val_loss {target:.4g}: {reached}; stopped after {run['epochs']} epochs "
                f"({run['train_seconds']:.1f} s); best val_loss {min(histories[mode]['val_loss']):.4g}; "
                f"test MAE {run['evaluation'].model.mae:.4g}"
            )


if __name__ == "__main__":
    pd.set_option("display.width", 120)
    np.set_printoptions(precision=4)
    main()
