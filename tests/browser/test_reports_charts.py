"""The reports page in Chromium: the bundled Chart.js draws the three charts under the page's CSP (no inline
script, nothing from elsewhere), and the page passes axe-core."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime
from tests.integration.test_reports import populate

CHARTS = ("chart-volume", "chart-backlog", "chart-sla")


def test_the_reports_page_draws_its_charts(runtime: Runtime, visit: Any, tokens: dict[str, str]) -> None:
    populate(runtime)
    owner = visit(tokens["petra"])
    page = owner.open("/reports?from=2026-03-01&to=2026-03-07")
    owner.check("reports")
    assert "67% resolved at first contact" in page.inner_text("#card-first-contact")
    for chart in CHARTS:
        # Chart.js sizes the canvas it draws on and leaves pixels on it; a blank canvas has none.
        drawn = page.evaluate("""id => { const c = document.getElementById(id);
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return [c.width, pixels.some(value => value !== 0)]; }""", chart)
        assert drawn[0] > 100 and drawn[1], (chart, drawn)
