"""Live monitoring, measured side by side in one run on seeded synthetic series (the four shapes of
bench_many_series: random walks, daily + weekly cycles, trends with level shifts, noisy sines).

Part 1, cost (--series, default 1000): one global LSTM (`Forecaster`, train.scope=global, --cost-epochs) fitted
on the first 400 rows of every series and published into a registry folder as the champion of each; then each
series gets --new rows and live scoring (`score_series`: read its log, forecast from every new origin with only
the rows before it, score, adapt the interval, write the log) runs over all of them, timed per series and per new
row, next to what the retrain those rows trigger costs (the same global fit on all rows). The same scoring with
naive champions (no model call) shows the bookkeeping alone.

Part 2, the health rule and the adaptive intervals (--seeds, default 5, x 4 shapes): what the default gate serves
(a per-series LSTM, default config but --epochs, or the best naive forecast) fitted on the first 800 of 1,100
rows, then its 300 live origins scored as they came, with a
level shift of 8 typical steps 50 origins before the end, and with extra noise from 150 origins before the end.
Each rule is judged on the newest 100 origins: false alarms on the unchanged series, detections on the shifted
ones; coverage of the calibrated interval vs the adaptive one on the noisier ones.

Run: .venv/bin/python benchmarks/bench_monitor.py [--series 1000] [--new 10] [--seeds 5] [--epochs 20] [--skip-cost]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_many_series import make_series

from movavg.bundle import baseline_bundle, save_bundle
from movavg.config import MonitorConfig
from movavg.forecaster import Forecaster
from movavg.monitor import (
    Champions,
    adapt_intervals,
    degraded_reasons,
    score_origins,
    score_series,
    window_figures,
)
from movavg.registry import set_champion
from movavg.storage import atomic_write_json

WINDOW = {"lookback": 24, "ma_window": 5, "horizon": 5}


def stamped(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(timestamp=pd.DatetimeIndex(frame["timestamp"]).tz_localize("UTC"))


def publish(art: Path, version: str, model: object, spec: object, metrics: dict, first: dict[str, str]) -> None:
    """Make `version` (one bundle serving every series of `metrics`) the champion of those series."""
    folder = art / "models" / version
    folder.mkdir(parents=True)
    save_bundle(model, spec, folder)  # type: ignore[arg-type]
    atomic_write_json(folder / "metrics.json", metrics)
    atomic_write_json(folder / "run.json", {"model_key": f"bench-{version}", "version": version})
    for name in metrics:
        set_champion(art, name, version, "benchmark", None, first[name])


def cost(args: argparse.Namespace) -> None:
    frames = {f"s{i:04d}": stamped(make_series(i, 400 + args.new)) for i in range(args.series)}
    config = {
        "window": WINDOW,
        "train": {"scope": "global", "epochs": args.cost_epochs, "layers": [{"units": 16}]},
        "evaluate": {"backtest_folds": 0, "require_beat_baseline": False},
    }
    first_rows = pd.concat(f.iloc[:400] for f in frames.values())
    started = time.perf_counter()
    fitted = Forecaster(config).fit(first_rows)
    fit_seconds = time.perf_counter() - started
    first = {name: str(f["timestamp"].iloc[399].isoformat()) for name, f in frames.items()}
    one = next(iter(fitted.series_.values()))
    metrics = {name: s.metrics.model_dump(mode="json") for name, s in fitted.series_.items()}
    windows = {name: s.bundle.window_for(name) for name, s in fitted.series_.items()}
    naive = {name: "naive_last" for name in fitted.series_}
    naive_metrics = {name: {**m, "kind": "baseline:naive_last"} for name, m in metrics.items()}
    with tempfile.TemporaryDirectory() as tmp:
        lstm_dir, naive_dir = Path(tmp) / "lstm", Path(tmp) / "naive"
        publish(lstm_dir, "v1", one.model, one.bundle, metrics, first)
        publish(naive_dir, "v1", None, baseline_bundle(windows, ["value"], naive), naive_metrics, first)
        timings = {}
        for label, art in (("LSTM (one global model)", lstm_dir), ("naive champions", naive_dir)):
            champions, scored = Champions(art), 0
            started = time.perf_counter()
            for name, frame in frames.items():
                scored += len(score_series(art, name, frame, champions, 0.05, None)[1])
            timings[label] = (time.perf_counter() - started, scored)
    started = time.perf_counter()
    Forecaster(config).fit(pd.concat(frames.values()))
    retrain_seconds = time.perf_counter() - started
    sample = list(frames)[: args.per_series_sample]
    per_series = {**config, "train": {**config["train"], "scope": "per-series"}}
    started = time.perf_counter()
    Forecaster(per_series).fit(pd.concat(frames[name] for name in sample))
    per_series_seconds = (time.perf_counter() - started) / len(sample)
    rows = args.series * args.new
    print(f"\n## Cost at {args.series} series, {args.new} new rows each ({rows} rows)\n")
    print("| what | seconds | per series | per new row | origins scored |")
    print("|---|---:|---:|---:|---:|")
    for label, (seconds, scored) in timings.items():
        print(
            f"| live scoring, {label} | {seconds:.1f} | {1000 * seconds / args.series:.1f} ms | "
            f"{1000 * seconds / rows:.2f} ms | {scored} |"
        )
    print(
        f"| retrain (global fit, {args.cost_epochs} epochs) | {retrain_seconds:.1f} | "
        f"{1000 * retrain_seconds / args.series:.1f} ms | {1000 * retrain_seconds / rows:.2f} ms | |"
    )
    print(
        f"| retrain (one model per series, {args.cost_epochs} epochs; {len(sample)} series timed) | "
        f"{per_series_seconds * args.series:.0f} (est.) | {1000 * per_series_seconds:.0f} ms | "
        f"{1000 * per_series_seconds / args.new:.1f} ms | |"
    )
    lstm_seconds = timings["LSTM (one global model)"][0]
    print(
        f"\nlive scoring / retrain: {lstm_seconds / retrain_seconds:.2f}x the global retrain, "
        f"{lstm_seconds / (per_series_seconds * args.series):.3f}x the per-series one "
        f"(first global fit took {fit_seconds:.1f} s)"
    )


DEFAULT_RULE = "default: any of MAE > 1.5x, ratio > 1.2, coverage < level - 0.15"
RULES = {
    "MAE > 1.25x publish": lambda f, lvl: f["live_mae"] > 1.25 * f["window_publish_mae"],
    "MAE > 1.5x publish": lambda f, lvl: f["live_mae"] > 1.5 * f["window_publish_mae"],
    "MAE > 2x publish": lambda f, lvl: f["live_mae"] > 2.0 * f["window_publish_mae"],
    "ratio > 1.0": lambda f, lvl: f["live_ratio"] > 1.0,
    "ratio > 1.2": lambda f, lvl: f["live_ratio"] > 1.2,
    "coverage < level - 0.10": lambda f, lvl: f["live_coverage"] < lvl - 0.10,
    "coverage < level - 0.15": lambda f, lvl: f["live_coverage"] < lvl - 0.15,
}


def scenarios(rows: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """The live rows as they came, with a level shift, and with extra noise."""
    value = rows["value"].to_numpy()
    step = float(np.median(np.abs(np.diff(value[:800]))))
    shifted, noisy = value.copy(), value.copy()
    shifted[1050:] += 8 * step
    noisy[950:] += np.random.default_rng(1000 + seed).normal(0, 2 * step, len(value) - 950)
    return {"unchanged": rows, "shift": rows.assign(value=shifted), "noise": rows.assign(value=noisy)}


def rule(args: argparse.Namespace) -> None:
    config = {"window": WINDOW, "train": {"epochs": args.epochs}, "evaluate": {"backtest_folds": 0}}
    flags: dict[tuple[str, str], list[bool]] = {}
    coverage: dict[str, list[float]] = {"calibrated": [], "adaptive": []}
    ratios: list[float] = []
    served: dict[str, int] = {}
    defaults = MonitorConfig()
    for index in range(4 * args.seeds):
        rows = stamped(make_series(index, 1100))
        name = str(rows["series_id"].iloc[0])
        fitted = Forecaster(config).fit(rows.iloc[:800]).series_[name]
        loaded = (fitted.model, fitted.bundle, {name: fitted.metrics.model_dump(mode="json")})
        at = np.arange(799, 1100 - WINDOW["horizon"])
        for scenario, live_rows in scenarios(rows, index).items():
            scored = score_origins(live_rows, name, "v1", loaded, at)
            for rate, label in ((0.0, "calibrated"), (0.05, "adaptive")):
                adapted = adapt_intervals(scored, scored.iloc[0:0], rate)
                figures = window_figures(adapted, MonitorConfig().window)
                if scenario == "noise":
                    coverage[label].append(figures["live_coverage"])
                if label == "calibrated" and scenario != "noise":
                    for rule_name, test in RULES.items():
                        flags.setdefault((rule_name, scenario), []).append(bool(test(figures, figures["level"])))
                    flags.setdefault((DEFAULT_RULE, scenario), []).append(bool(degraded_reasons(figures, defaults)))
                    if scenario == "unchanged":
                        ratios.append(figures["live_ratio"])
        served[fitted.served_by.split(":")[0]] = served.get(fitted.served_by.split(":")[0], 0) + 1
        print(
            f"  {name}: {fitted.served_by}, test MAE {fitted.metrics.mae:.3g}, live ratio {ratios[-1]:.2f}",
            file=sys.stderr,
        )
    n = 4 * args.seeds
    print(f"\n## Health rule over {n} series ({args.seeds} seeds x 4 shapes), newest 100 live origins\n")
    print(f"served by (the default gate): {served}\n")
    print("| rule | false alarms (unchanged) | detections (level shift) |")
    print("|---|---:|---:|")
    for rule_name in [*RULES, DEFAULT_RULE]:
        alarms, hits = flags[(rule_name, "unchanged")], flags[(rule_name, "shift")]
        print(f"| {rule_name} | {sum(alarms)}/{n} | {sum(hits)}/{n} |")
    quantiles = np.quantile(ratios, [0, 0.5, 1])
    print(
        f"\nlive ratio of unchanged series: min {quantiles[0]:.2f}, median {quantiles[1]:.2f}, max {quantiles[2]:.2f}"
    )
    print("\n## Interval coverage with extra noise (level 0.9), newest 100 origins: mean (min .. max)\n")
    for label, values in coverage.items():
        print(f"- {label}: {np.mean(values):.3f} ({np.min(values):.2f} .. {np.max(values):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--cost-epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--per-series-sample", type=int, default=10)
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    from movavg.runtime import configure_environment

    configure_environment()
    rule(args)
    if not args.skip_cost:
        cost(args)


if __name__ == "__main__":
    main()
