"""Detection on the independent fleet (oasis.independent_sim), which shares no code with
the simulator the detectors were built beside: a few scenarios end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oasis.monitor.evaluate import score_run

pytestmark = pytest.mark.slow  # 5-8 s each: a fleet simulated and detected end to end
START = datetime(2026, 11, 2, 6, tzinfo=UTC)


@pytest.mark.parametrize("scenario", ["low_traffic_noise", "load_test", "collector_restart"])
def test_healthy_look_alikes_raise_nothing(scenario: str) -> None:
    score = score_run(scenario, seed=4, fleet="independent")
    assert score.false_alarms == 0, score.titles


def test_a_database_that_logs_nothing_is_named_as_the_root_cause() -> None:
    score = score_run("silent_db_outage", seed=4, fleet="independent")
    assert score.detected and score.false_alarms == 0, score.titles
    assert score.root_cause_service == "pg-main"
    assert score.delay_minutes is not None and score.delay_minutes <= 5


def test_a_flag_flip_blames_no_deployment_nearby() -> None:
    score = score_run("feature_flag_flip", seed=4, fleet="independent")
    assert score.detected and score.change_right, score.titles
