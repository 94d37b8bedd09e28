"""The summary report over HTTP: who may read it, bad parameters as problem+json, and a CSV that says what the
JSON says (read back with the ``csv`` module)."""
from __future__ import annotations

import csv
import io

import pytest

from tests.api.conftest import Api
from tests.integration.test_reports import populate

SUMMARY = "/api/v1/reports/summary?from=2026-03-01&to=2026-03-07"


@pytest.fixture
def reporting(api: Api) -> Api:
    populate(api.runtime)
    return api


@pytest.mark.parametrize("user", ["lena", "otto", "petra", "aude", "root"])
def test_the_team_process_owners_auditors_and_admins_read_the_summary(reporting: Api, user: str) -> None:
    response = reporting.as_(user).get(SUMMARY)
    assert response.status_code == 200, response.json
    assert response.json["tickets"] == {"opened": 11, "closed": 9, "open_at_start": 2, "open_at_end": 4}


def test_customers_may_not_read_reports(reporting: Api) -> None:
    for path in (SUMMARY, SUMMARY.replace("summary", "summary.csv")):
        response = reporting.as_("alice").get(path)
        assert response.status_code == 403
        assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("query", "parameter"), [
    ("from=2026-03-07&to=2026-03-01", "to"),  # reversed
    ("from=2010-01-01&to=2026-03-01", "to"),  # over ten years
    ("from=2026-13-01", "from"),  # no such month
    ("from=yesterday", "from"),
    ("to=2026-03-01T10:00", "to"),
    ("priority=P0", "priority"),
    ("priority=p1", "priority"),
])
def test_bad_parameters_are_422_naming_the_parameter(reporting: Api, query: str, parameter: str) -> None:
    for path in ("/api/v1/reports/summary", "/api/v1/reports/summary.csv"):
        response = reporting.as_("lena").get(f"{path}?{query}")
        assert response.status_code == 422, response.json
        assert response.mimetype == "application/problem+json"
        assert [error["pointer"] for error in response.json["errors"]] == [f"/{parameter}"]
        assert f"'{parameter}'" in response.json["errors"][0]["detail"]


def test_an_unknown_unit_is_404_and_an_unknown_parameter_400(reporting: Api) -> None:
    missing = reporting.as_("lena").get("/api/v1/reports/summary?unit=nowhere")
    assert missing.status_code == 404
    assert "nowhere" in missing.json["detail"]
    assert reporting.as_("lena").get("/api/v1/reports/summary?form=2026-03-01").status_code == 400


def test_the_csv_says_what_the_json_says(reporting: Api) -> None:
    caller = reporting.as_("petra")
    report = caller.get(SUMMARY + "&unit=general").json
    response = caller.get(SUMMARY.replace("summary", "summary.csv") + "&unit=general")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="ticketflow-summary-2026-03-01-2026-03-07-general.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["figure", "dimension", "value"]
    cells = {(figure, dimension): value for figure, dimension, value in rows[1:]}
    assert len(cells) == len(rows) - 1  # each (figure, dimension) once
    assert cells["opened", ""] == str(report["tickets"]["opened"]) == "10"
    assert float(cells["first_contact_resolution_rate", ""]) == report["outcomes"]["first_contact_resolution_rate"]
    assert cells["deflections", ""] == ""  # not known per unit: empty, as null in the JSON
    assert float(cells["resolution_p90_s", ""]) == report["times"]["resolution"]["p90_s"]
    for point in report["series"]:
        assert int(cells["backlog_per_day", point["day"]]) == point["backlog"]
        assert int(cells["opened_per_day", point["day"]]) == point["opened"]
    for row in report["sla"]:
        assert int(cells["sla_closed", row["priority"]]) == row["closed"]
        shown = cells["sla_both_rate", row["priority"]]
        assert (float(shown) if shown else None) == row["both_rate"]
