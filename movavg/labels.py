"""What serves a series, in words: one label for one champion everywhere (the `models` and `status` tables and
their `--json`, the run's metrics table, the health artifact), and the short name of the naive forecast that
gated it."""

from __future__ import annotations

from typing import Any

from movavg.naive import NaiveSpec

SHORT_KINDS = {"seasonal_change": "seas. change", "seasonal": "seasonal"}


def naive_label(name: str) -> str:
    """A naive forecast's record name in a few words: `naive_last` -> `last value`, `naive_ma` -> `current MA`,
    `seasonal_change_12` -> `seas. change 12`, `seasonal_4` -> `seasonal 4`; "" for none."""
    if not name:
        return ""
    spec = NaiveSpec.parse(name)
    return spec.describe() if spec.season is None else f"{SHORT_KINDS[spec.kind]} {spec.season}"


def serving_label(kind: str, ensemble: int = 1, blend: dict[str, Any] | None = None, trained_for: int = 1) -> str:
    """What serves: `LSTM`, `LSTM x5` (a seed ensemble), `LSTM + 0.20 naive` (blended with a naive forecast at
    that weight; which one is the record's `blend.naive`), `global LSTM (3 series)`, or a naive champion,
    `naive: seas. change 12`; "" without a champion (`kind` ""). Short enough for an 80-column table."""
    if not kind:
        return ""
    if kind.startswith("baseline:"):
        return f"naive: {naive_label(kind.split(':', 1)[1])}"
    text = "LSTM" if (ensemble or 1) == 1 else f"LSTM x{ensemble}"
    if trained_for > 1:
        text = f"global {text} ({trained_for} series)"
    if blend and blend.get("weight", 1.0) < 1.0:
        text += f" + {1 - blend['weight']:.2f} naive"
    return text


def metrics_label(metrics: dict[str, Any], trained_for: int = 1) -> str:
    """`serving_label` of a published version's metrics record for one series."""
    kind = str(metrics.get("kind", "lstm"))
    return serving_label(kind, metrics.get("ensemble", 1), metrics.get("blend"), trained_for)
