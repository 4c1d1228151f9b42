"""Forecast quality, side by side in one run: the model against every naive forecast, MA(5) ending 5 steps ahead,
on (a) seeded half-hourly series with daily + weekly cycles, level shifts and AR(1) noise, at 26 and at 12 weeks,
(b) seeded random walks (business days, like daily closes), (c) the bundled CO2 sample, (d) seeded daily
series with a yearly and a weekly cycle over 4 years and (e) seeded calendar series: 30 years of monthly data
(trend, yearly season, a level shift, AR(1) noise), 20 years of monthly random walk, 40 years of quarterly data
and 300 years of yearly data. Every case runs under every `--variant` (config overrides), so variants are
compared on the same series in the same run.

Prints, per case and variant, test MAE of the model and of the best naive forecast, who would serve the series,
the backtest, the coverage of the 90% interval of what serves and the training time; then per group the ratio
model / best naive for each seed with its mean and spread, what serves / the best naive forecast of any variant
on the same test windows (a variant without seasons is judged against the seasonal naive forecasts too), and
what serves / last value.

    python benchmarks/bench_forecast.py [--seeds 5] [--weeks 26 12] [--groups a b c d e]
        [--variant "label:window.deseasonalize=true,train.ensemble=5" ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movavg.backtest import run_backtest
from movavg.config import build_config
from movavg.evaluation import evaluate_candidate
from movavg.model import train_and_save
from movavg.naive import describe_naive
from movavg.samples import CO2_SAMPLE, calendar_series, synthetic_series
from movavg.schema import Evaluation, NormalizeResult
from movavg.series import normalize_series
from movavg.storage import frame_hash
from movavg.windowing import build_windows

TASK = ["window.lookback=52", "window.ma_window=5", "window.horizon=5"]


def cases(seeds: int, weeks: list[int], groups: list[str]) -> list[tuple[str, str, pd.DataFrame]]:
    """(group, name, series with timestamp and value) for every benchmark series of `groups`."""
    out = []
    if "a" in groups:
        for length in weeks:
            for seed in range(seeds):
                series = synthetic_series(48 * 7 * length, seed=seed, freq="30min", kind="seasonal")
                out.append((f"(a) half-hourly, {length} weeks", f"seed {seed}", series))
    if "b" in groups:
        for seed in range(seeds):
            rng = np.random.default_rng(100 + seed)
            prices = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, 2500)))
            frame = pd.DataFrame({"timestamp": pd.bdate_range("2015-01-01", periods=2500), "value": prices})
            out.append(("(b) random walk, business days", f"seed {seed}", frame))
    if "c" in groups:
        co2 = pd.read_csv(CO2_SAMPLE, parse_dates=["timestamp"])
        out.append(("(c) CO2 weekly (bundled)", "-", co2[["timestamp", "value"]]))
    if "d" in groups:
        for seed in range(seeds):
            series = synthetic_series(4 * 365 + 1, seed=200 + seed, start="2020-01-01", freq="D", kind="yearly")
            out.append(("(d) daily, yearly + weekly cycles, 4 years", f"seed {seed}", series))
    if "e" in groups:
        for seed in range(seeds):
            out.append(("(e) monthly, 30 years", f"seed {seed}", calendar_series(360, "MS", seed=300 + seed)))
            walk = calendar_series(240, "ME", seed=400 + seed, kind="walk")
            out.append(("(e) monthly random walk, 20 years", f"seed {seed}", walk))
            out.append(
                (
                    "(e) quarterly, 40 years",
                    f"seed {seed}",
                    calendar_series(160, "QS", seed=500 + seed, start="1980-01-01"),
                )
            )
            yearly = calendar_series(300, "YS", seed=600 + seed, start="1700-01-01")
            out.append(("(e) yearly from 1700", f"seed {seed}", yearly))
    return out


def run_case(
    series: pd.DataFrame, overrides: list[str], folder: Path, champion_dir: str | None = None
) -> dict[str, Any]:
    """Normalize, window, train (from `champion_dir`'s weights when given and allowed), backtest and evaluate
    one series; the evaluation, the training result and time."""
    folder.mkdir(parents=True, exist_ok=True)
    config = build_config("default", None, [*TASK, *overrides])
    frame, stats = normalize_series(series.assign(series_id="s"), ["value"], config.normalize)
    path = folder / "series.parquet"
    frame.to_parquet(path, index=False)
    counts = frame["split"].value_counts()
    normalized = NormalizeResult(
        path=str(path),
        content_hash=frame_hash(frame),
        series="s",
        columns=["value"],
        stats=stats,
        rows={k: int(counts[k]) for k in ("train", "val", "test")},
        gaps={"step": "", "gaps": 0, "largest": "", "filled_rows": 0},
    )
    windows = build_windows(normalized, config.window, folder / "windows")
    started = time.perf_counter()
    trained = train_and_save([windows], [normalized], config.train, folder / "model", champion_dir=champion_dir)
    seconds = time.perf_counter() - started
    backtest = (
        run_backtest(windows, normalized, config.train, config.evaluate.backtest_folds, folder / "backtest")
        if config.evaluate.backtest_folds
        else None
    )
    evaluation = evaluate_candidate(trained, normalized, None, config.evaluate, folder / "evaluate", backtest)
    return {
        "evaluation": evaluation,
        "train_seconds": seconds,
        "epochs": trained.epochs_run,
        "spec": windows.spec,
        "trained": trained,
    }


def served(evaluation: Evaluation) -> tuple[float, float]:
    """(MAE, 90% interval coverage) of what would serve the series: the model or the best naive forecast."""
    if evaluation.winner == "lstm":
        return evaluation.model.mae, evaluation.interval.coverage
    return evaluation.baseline_mae, evaluation.baseline_interval.coverage


def parse_variant(text: str) -> tuple[str, list[str]]:
    """ "label:key=value,key=value" -> (label, overrides); "default" alone has none."""
    label, _, assignments = text.partition(":")
    return label, [item for item in assignments.split(",") if item]


def report_case(group: str, name: str, label: str, rows: int, result: dict[str, Any]) -> dict[str, Any]:
    """Print one case's figures; return its summary row."""
    evaluation, spec = result["evaluation"], result["spec"]
    best = evaluation.baseline_mae
    folds = evaluation.backtest.folds if evaluation.backtest else []
    backtest = ", ".join(f"{f.mae / f.baseline_mae:.2f}" for f in folds) or "-"
    served_mae, coverage = served(evaluation)
    print(
        f"{group} {name} [{label}]: {rows} rows, seasons {spec.seasons}; model {evaluation.model.mae:.4g} = "
        f"{evaluation.model.mae / best:.3f} x best naive ({describe_naive(evaluation.best_baseline)} {best:.4g}); "
        f"serves: {evaluation.winner}, {served_mae / evaluation.baseline_last.mae:.3f} x last value; "
        f"backtest {backtest}; coverage {coverage:.3f}; train {result['train_seconds']:.1f} s "
        f"({result['epochs']} epochs)",
        flush=True,
    )
    return {
        "group": group,
        "case": f"{group} {name}",
        "variant": label,
        "served_mae": served_mae,
        "best_naive_mae": best,
        "ratio": evaluation.model.mae / best,
        "served_vs_last": served_mae / evaluation.baseline_last.mae,
        "coverage": coverage,
        "seconds": result["train_seconds"],
    }


def summarize(rows: list[dict[str, Any]]) -> None:
    """Per group and variant: ratio per seed, mean and spread; what serves / last value (worst); coverage range;
    mean training time."""
    print(
        "\ngroup | variant | model / best naive per seed | mean (min-max) | served / best naive of any variant, "
        "mean (worst) | served / last, worst | coverage | train"
    )
    table = pd.DataFrame(rows)
    table["served_vs_best"] = table["served_mae"] / table.groupby("case")["best_naive_mae"].transform("min")
    for (group, label), part in table.groupby(["group", "variant"], sort=False):
        ratios = part["ratio"].tolist()
        print(
            f"{group} | {label} | {', '.join(f'{r:.2f}' for r in ratios)} | {statistics.fmean(ratios):.3f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {part['served_vs_best'].mean():.3f} "
            f"({part['served_vs_best'].max():.3f}) | {part['served_vs_last'].max():.3f} | "
            f"{part['coverage'].min():.3f}-{part['coverage'].max():.3f} | {part['seconds'].mean():.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="synthetic series per kind and length")
    parser.add_argument("--weeks", type=int, nargs="+", default=[26, 12], help="lengths of the (a) series in weeks")
    parser.add_argument("--groups", nargs="+", default=["a", "b", "c", "d"], help="which groups to run")
    parser.add_argument(
        "--variant", dest="variants", action="append", help='"label:key=value,..." config overrides (repeatable)'
    )
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variants or ["default"]]
    print(f"variants: {variants}")
    rows = []
    for group, name, series in cases(args.seeds, args.weeks, args.groups):
        for label, overrides in variants:
            with tempfile.TemporaryDirectory() as tmp:
                result = run_case(series, overrides, Path(tmp))
            rows.append(report_case(group, name, label, len(series), result))
    summarize(rows)


if __name__ == "__main__":
    main()
