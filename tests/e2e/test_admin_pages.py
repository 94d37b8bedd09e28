"""The admins' pages: an admin lands on /admin with counts and links, adds a user and sees the token once, issues
a new token that revokes the old one, reads the units in words and changes one by its JSON document or its TOML
file; a bad document is shown by its field and changes nothing. Everyone else is turned away."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from flask import Flask

from engine.runtime import Runtime
from engine.usecases.units import UnitAdmin
from tests.conftest import CUSTOMER, intake
from tests.e2e.conftest import Page, Visitor

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "units.example.toml"


def token_on(html: str) -> str:
    return Page.of(html).text_of["token"].strip()


def signs_in(app: Flask, token: str) -> bool:
    visitor = Visitor(app.test_client())
    visitor.get("/sign-in")
    return visitor.client.post("/sign-in", data={"token": token, "csrf_token": visitor.csrf}).status_code == 302


def test_an_admin_lands_on_the_admin_page_with_counts_and_links(runtime: Runtime, visit: Any) -> None:
    runtime.open_ticket(intake(), CUSTOMER)  # its acknowledgment waits in the outbox
    root = visit("root")
    assert root.get("/", status=302).headers["Location"].endswith("/admin")
    html = root.get("/admin").text
    page = Page.of(html)
    assert "7 users" in page.text_of["card-users"] and "Auditor: 1" in page.text_of["card-users"]
    assert "Customer: 2" in page.text_of["card-users"]
    units = len(UnitAdmin(runtime).list_units())
    assert f"{units} support unit" in page.text_of["card-units"]
    assert "0 channels" in page.text_of["card-channels"] and "0 subscriptions" in page.text_of["card-webhooks"]
    assert "1 message waiting to be sent" in page.text_of["card-outbox"]
    for link in ("/admin/users", "/admin/units", "/channels", "/webhooks", "/outbox", "/audit"):
        assert link in page.links
    assert 'href="/admin"' in html  # the nav


def test_an_admin_adds_a_user_and_sees_the_token_once(app: Flask, runtime: Runtime, visit: Any) -> None:
    root = visit("root")
    root.get("/admin/users")
    added = root.post("/admin/users", {"name": "nina", "role": "l2", "email": "nina@example.com",
                                       "unit": "general"}, status=200)
    token = token_on(added.text)
    assert token.startswith("tf_") and added.headers["Cache-Control"] == "no-store"
    assert "nina is added" in Page.of(added.text).text_of["fresh-token"]
    listed = root.get("/admin/users").text
    assert token not in listed
    row = Page.of(listed).text_of["user-nina"]
    assert "L2 support engineer" in row and "general" in row and "nina@example.com" in row
    assert signs_in(app, token)


def test_a_new_token_revokes_the_old(app: Flask, tokens: dict[str, str], visit: Any) -> None:
    root = visit("root")
    root.get("/admin/users")
    fresh = root.post("/admin/users/lena/token", {}, status=200)
    token = token_on(fresh.text)
    assert token != tokens["lena"] and "The old token no longer works." in fresh.text
    assert not signs_in(app, tokens["lena"]) and signs_in(app, token)
    root.get("/admin/users")
    root.post("/admin/users/nobody/token", {})
    assert "There is no user nobody" in root.get("/admin/users").text


def test_a_bad_or_taken_user_is_shown_by_its_field_and_adds_nobody(app: Flask, visit: Any) -> None:
    root = visit("root")
    root.get("/admin/users")
    page = Page.of(root.post("/admin/users", {"name": "no spaces", "role": "boss", "email": "not-an-email",
                                              "unit": ""}, status=422).text)
    assert "a name is 1-100" in page.text_of["user-name-error"].lower()
    assert "role must be one of" in page.text_of["user-role-error"].lower()
    assert "not an email address" in page.text_of["user-email-error"].lower()
    assert "token" not in page.text_of
    page = Page.of(root.post("/admin/users", {"name": "ghost", "role": "l1", "email": "", "unit": "atlantis"},
                             status=422).text)
    assert "Unknown unit 'atlantis'." in page.text_of["user-unit-error"]
    page = Page.of(root.post("/admin/users", {"name": "lena", "role": "l1", "email": "", "unit": ""},
                             status=409).text)
    assert "already exists" in page.text_of["user-name-error"]
    names = {u.name for u in app.extensions["ticketflow"].directory.list_users()}
    assert "ghost" not in names and "no spaces" not in names


def test_units_read_in_words_and_a_json_edit_applies(runtime: Runtime, visit: Any) -> None:
    root = visit("root")
    page = Page.of(root.get("/admin/units").text)
    general = page.text_of["unit-general"]
    assert "Mon 09:00–17:00" in general and "closed Sat, Sun" in general and "P1" in general
    assert "PT" not in general  # durations in words
    doc, version = UnitAdmin(runtime).unit("general")
    edit = Page.of(root.get("/admin/units/general").text)
    assert json.loads(edit.text_of["unit-document"]) == doc
    changed = {**doc, "hours": {**doc["hours"], "sat": ["10:00-14:00"]}}
    root.post("/admin/units/general", {"document": json.dumps(changed), "version": str(version)})
    assert UnitAdmin(runtime).unit("general") == (changed, version + 1)
    assert "Sat 10:00–14:00" in Page.of(root.get("/admin/units").text).text_of["unit-general"]


def test_a_bad_unit_shows_the_field_and_changes_nothing(runtime: Runtime, visit: Any) -> None:
    before = UnitAdmin(runtime).unit("general")
    doc = {**before[0], "targets": {**before[0]["targets"], "P2": {"first_response": "soon", "resolution": "P1D"}}}
    root = visit("root")
    root.get("/admin/units/general")
    sent = json.dumps(doc)
    response = root.post("/admin/units/general", {"document": sent, "version": str(before[1])}, status=422)
    page = Page.of(response.text)
    assert "targets › P2 › first_response" in page.text_of["unit-problems"]
    assert "'soon' is not an ISO 8601 duration" in page.text_of["unit-problems"]
    assert json.loads(page.text_of["unit-document"]) == doc  # what was typed stays
    bad_json = Page.of(root.post("/admin/units/general", {"document": "{\"name\": ", "version": str(before[1])},
                                 status=422).text)
    assert "document" in bad_json.text_of["unit-problems"] and "not valid JSON" in bad_json.text_of["unit-problems"]
    nul = Page.of(root.post("/admin/units/general", {"document": json.dumps({**before[0], "name": "a\u0000b"}),
                                                     "version": str(before[1])}, status=422).text)
    assert "name" in nul.text_of["unit-problems"] and "NUL" in nul.text_of["unit-problems"]
    root.get("/admin/units/%00", status=404)
    root.get("/admin/units/atlantis", status=404)
    stale = root.post("/admin/units/general", {"document": json.dumps(before[0]), "version": "999"}, status=409)
    assert "was changed meanwhile" in Page.of(stale.text).text_of["unit-problems"]
    assert UnitAdmin(runtime).unit("general") == before


def upload(visitor: Visitor, path: str, content: bytes, status: int = 302) -> Any:
    response = visitor.client.post(path, data={"csrf_token": visitor.csrf, "file": (io.BytesIO(content), "unit.toml")},
                                   content_type="multipart/form-data")
    assert response.status_code == status, response.text[:2000]
    return response


def test_a_toml_upload_creates_a_unit_and_a_bad_one_names_the_field(runtime: Runtime, visit: Any) -> None:
    root = visit("root")
    root.get("/admin/units")
    upload(root, "/admin/units", EXAMPLE.read_bytes())
    created, _ = UnitAdmin(runtime).unit("emea-support")
    assert created["time_zone"] == "Europe/Berlin" and created["holidays"] == {"country": "DE", "subdivision": "BY"}
    listed = Page.of(root.get("/admin/units").text).text_of["unit-emea-support"]
    assert "first response within 30 min, resolved within 4 h, around the clock" in listed
    assert "Public holidays of DE (BY)" in listed
    wrong = EXAMPLE.read_bytes().replace(b'time_zone = "Europe/Berlin"', b'time_zone = "Mars/Olympus"')
    page = Page.of(upload(root, "/admin/units", wrong, status=422).text)
    assert "time_zone" in page.text_of["unit-problems"] and "Mars/Olympus" in page.text_of["unit-problems"]
    page = Page.of(upload(root, "/admin/units", b"code = [", status=422).text)
    assert "not valid TOML" in page.text_of["unit-problems"]
    assert UnitAdmin(runtime).unit("emea-support")[0] == created
    root.get("/admin/units/emea-support")
    upload(root, "/admin/units/emea-support", EXAMPLE.read_bytes().replace(b'"EMEA support"', b'"EMEA desk"'))
    assert UnitAdmin(runtime).unit("emea-support")[0]["name"] == "EMEA desk"


def test_only_admins_reach_the_admin_pages(app: Flask, visit: Any, runtime: Runtime) -> None:
    before = UnitAdmin(runtime).unit("general")
    for name in ("lena", "otto", "alice", "ada", "petra"):
        person = visit(name)
        for path in ("/admin", "/admin/users", "/admin/units", "/admin/units/general"):
            person.get(path, status=403)
        assert "only admins" in person.post("/admin/users", {"name": "eve", "role": "admin"}, status=403).text
        person.post("/admin/users/root/token", {}, status=403)
        person.post("/admin/units/general", {"document": "{}"}, status=403)
    assert "eve" not in {u.name for u in app.extensions["ticketflow"].directory.list_users()}
    assert UnitAdmin(runtime).unit("general") == before
