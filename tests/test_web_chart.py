"""The incident chart's marker labels, measured as a real browser lays them out: however
many deployments crowd around the onset, no two labels overlap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser

from oasis.web.chart import ChartData, render_svg
from tests.browser_setup import chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CSS = ".chart{width:640px} .chart text{font:11px system-ui,sans-serif}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _chart(deploys: list[tuple[int, str]], onset_minute: int = 30) -> str:
    points = [
        (START + timedelta(minutes=m), 0.5 if m >= onset_minute else 0.01) for m in range(0, 60)
    ]
    return render_svg(
        ChartData(
            "checkout",
            "error_rate",
            START,
            START + timedelta(minutes=60),
            points,
            START + timedelta(minutes=onset_minute),
            [(START + timedelta(minutes=m), version) for m, version in deploys],
        )
    )


def _overlaps(browser: Browser, svg: str) -> list[tuple[str, str]]:
    page = browser.new_page()
    try:
        page.set_content(f"<style>{CSS}</style>{svg}")
        boxes = page.eval_on_selector_all(
            "g text",
            "els => els.map(e => {const b = e.getBBox(); "
            "return [e.textContent, b.x, b.y, b.x + b.width, b.y + b.height]})",
        )
    finally:
        page.close()
    assert len(boxes) >= 2
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]


@pytest.mark.parametrize(
    "deploys",
    [
        [(28, "v2.3.1")],  # a deploy two minutes before the onset
        [(26, "v41"), (27, "v42"), (28, "v43"), (29, "v44"), (31, "v45")],  # a busy morning
        [(29, "2026.11.23-rc1+build.4471"), (30, "2026.11.23-rc2+build.4472")],  # long names
        [(55, "v9"), (57, "v10"), (59, "v11")],  # near the right edge, labels turn left
    ],
)
def test_marker_labels_never_overlap(browser: Browser, deploys: list[tuple[int, str]]) -> None:
    assert _overlaps(browser, _chart(deploys)) == []


def test_the_old_fixed_rows_would_have_overlapped(browser: Browser) -> None:
    # the check itself can fail: labels forced onto one line are caught
    crowded = _chart([(29, "v1"), (30, "v2")]).replace('y="40"', 'y="26"')  # lane 1 -> 0
    assert _overlaps(browser, crowded)
