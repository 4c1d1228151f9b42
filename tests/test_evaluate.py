"""The publish gate and the metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from movavg.config import EvaluateConfig
from tasks.evaluate import Scores, decide, scores


def s(mae: float) -> Scores:
    return Scores(mae=mae, rmse=mae * 1.2)


def test_scores() -> None:
    result = scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 0.0]))
    assert result.mae == pytest.approx(5 / 3) and result.rmse == pytest.approx(math.sqrt(13 / 3))
    assert math.isnan(scores(np.array([]), np.array([])).mae)


@pytest.mark.parametrize(("model", "finite", "champion", "config", "publish", "why"), [
    (s(1.0), True, None, EvaluateConfig(), True, "no champion to compare with"),
    (s(0.9), True, s(1.0), EvaluateConfig(), True, "beats champion"),
    (s(1.0), True, s(1.0), EvaluateConfig(), False, "does not beat champion"),
    (s(0.99), True, s(1.0), EvaluateConfig(min_improvement=0.02), False, "needed < 0.98"),
    (s(0.97), True, s(1.0), EvaluateConfig(min_improvement=0.02), True, "beats"),
    (s(math.nan), True, None, EvaluateConfig(), False, "not finite"),
    (s(0.5), False, None, EvaluateConfig(), False, "not finite"),
    (s(2.0), True, None, EvaluateConfig(require_beat_baseline=True), False, "naive baseline"),
    (s(1.0), True, s(math.nan), EvaluateConfig(), True, "no champion to compare with"),
])
def test_gate(model: Scores, finite: bool, champion: Scores | None, config: EvaluateConfig, publish: bool, why: str) -> None:
    decision, reason = decide(model, finite, baseline_mae=1.5, champion=champion, config=config)
    assert decision is publish
    assert why in reason
