"""Regenerate the bad-input corpus in this folder: .venv/bin/python tests/corpus/make_corpus.py"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def base(n: int = 10, start: str = "2024-01-01") -> pd.DataFrame:
    times = pd.date_range(start, periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"timestamp": times, "value": [f"{10 + i * 0.5:.1f}" for i in range(n)]})


def with_cell(frame: pd.DataFrame, row: int, column: str, text: str) -> pd.DataFrame:
    out = frame.copy()
    out.loc[row - 1, column] = text  # rows are numbered from 1
    return out


def stray_series() -> pd.DataFrame:
    """Series that cannot be modelled, or carry a hostile id, beside nothing good: a constant one, a
    ten-row one, and one whose id tries to escape the artifacts folder."""
    flat = base(40).assign(value="5.0", series_id="flat")
    ten = base(10).assign(series_id="ten-rows")
    hostile = base(40).assign(series_id="../../x")
    return pd.concat([flat, ten, hostile], ignore_index=True)


def main() -> None:
    csv = {
        "bad_timestamp.csv": with_cell(base(), 3, "timestamp", "not-a-date"),
        "missing_timestamp.csv": with_cell(base(), 2, "timestamp", ""),
        "non_numeric_value.csv": with_cell(base(), 4, "value", "abc"),
        "missing_value.csv": with_cell(base(), 5, "value", ""),
        "nan_and_inf.csv": with_cell(with_cell(base(), 6, "value", "NaN"), 7, "value", "inf"),
        "duplicate_timestamps.csv": with_cell(base(), 2, "timestamp", base()["timestamp"][2]),
        "out_of_order.csv": base().iloc[[3, 0, 2, 1, 9, 4, 5, 8, 6, 7]],
        "out_of_range.csv": with_cell(base(), 8, "value", "1e9"),
        "all_rows_bad.csv": base().assign(value="n/a"),
        "conflicting_values.csv": base(4).assign(value=["99.0", "98.0", "97.0", "96.0"]),
        "wrong_columns.csv": base().rename(columns={"timestamp": "date", "value": "price"}),
        "name with spaces é.csv": base(),
        "stray_series.csv": stray_series(),
    }
    for name, frame in csv.items():
        frame.to_csv(HERE / name, index=False)
    mixed = base()
    mixed.loc[:4, "timestamp"] = [f"2024-01-01T{h:02d}:00:00+02:00" for h in range(5)]
    mixed.to_csv(HERE / "timezone_mixed.csv", index=False)
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "header_only.csv").write_text("timestamp,value\n")
    (HERE / "semicolons.csv").write_text(base().to_csv(index=False, sep=";"))
    (HERE / "ragged.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2,3,4\n")
    (HERE / "notes.txt").write_text("not data\n")
    rng = np.random.default_rng(0)
    (HERE / "garbage.csv").write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    (HERE / "garbage.parquet").write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    good = HERE / "good.parquet"
    base(200).assign(value=lambda f: f["value"].astype(float)).to_parquet(good)
    data = good.read_bytes()
    (HERE / "truncated.parquet").write_bytes(data[: len(data) // 2])
    good.unlink()


if __name__ == "__main__":
    main()
