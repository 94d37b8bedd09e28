"""The server-rendered pages through the Flask test client: sessions and CSRF, inboxes, every task
form along a whole escalation path, errors in place, escaping and customer isolation."""
from __future__ import annotations

from typing import Any

from flask import Flask

from engine.runtime import Runtime
from engine.usecases.knowledge import import_kb_file
from tests.conftest import CLASSIFY, CUSTOMER, L1, complete_current, intake
from tests.e2e.conftest import Page, Visitor
from ticketflow.composition import BUNDLED_DIAGRAM

DEMO_KB = BUNDLED_DIAGRAM.parent.parent / "ticketflow" / "data" / "demo_kb.json"
XSS = "<script>alert(1)</script>"

# Each step of the escalation path as a browser sends it: strings only, lists one entry per line.
CLASSIFY_FORM = {"type": "incident", "impact": "high", "urgency": "medium"}
ASSESS_FORM = {"resolve_at_first_level": "no", "kb_article": "",
               "assessment": "No article matches; looks like a server defect."}
ESCALATE_FORM = {"problem_description": "Invalid token on login after a password reset",
                 "troubleshooting_steps": "Cleared browser cache\r\n\r\n  Reset the password a second time  \r\n",
                 "escalation_reason": "Reproducible for several customers; needs server logs."}
INVESTIGATE_FORM = {"logs_reviewed": "auth-service logs 09:00-10:00", "reproduced": "yes",
                    "reproduction_notes": "", "root_cause": "Token cache is not invalidated on password reset."}
FIX_FORM = {"fix_details": "Invalidate the token cache entry when the password changes.",
            "components_changed": "auth/reset.py\nauth/cache.py", "fix_kind": "definitive",
            "workaround_approver": "", "follow_up_reference": ""}
SOLUTION_FORM = {"actions_taken": "Deployed the L2 fix and verified login in staging with a reset account.",
                 "configuration_changes": "none", "observed_outcome": "Login succeeds after reset.",
                 "kb_article_used": "", "customer_message": "We fixed the login problem after password resets.",
                 "customer_steps": "Log out and log in again"}
VALIDATE_FORM = {"validation_outcome": "resolved", "customer_comment": "Works now, thanks."}

# The widget each field of each form is rendered as.
WIDGETS = {
    "classify_ticket": {"type": "select", "impact": "select", "urgency": "select"},
    "assess_first_level": {"resolve_at_first_level": "select", "kb_article": "text", "assessment": "textarea"},
    "escalate_to_l2": {"problem_description": "textarea", "troubleshooting_steps": "textarea",
                       "escalation_reason": "textarea"},
    "investigate_root_cause": {"logs_reviewed": "textarea", "reproduced": "select",
                               "reproduction_notes": "textarea", "root_cause": "textarea"},
    "apply_definitive_fix": {"fix_details": "textarea", "components_changed": "textarea", "fix_kind": "select",
                             "workaround_approver": "text", "follow_up_reference": "text"},
    "apply_solution": {"actions_taken": "textarea", "configuration_changes": "text", "observed_outcome": "text",
                       "kb_article_used": "text", "customer_message": "textarea", "customer_steps": "textarea"},
    "test_and_confirm": {"validation_outcome": "radio", "customer_comment": "textarea"},
}


def ready_task(runtime: Runtime, number: str) -> Any:
    ready = runtime.get_ticket(number).ready_tasks
    assert len(ready) == 1, ready
    return ready[0]


def open_ticket(runtime: Runtime, description: str = "The login page says 'invalid token' since the reset.") -> str:
    return runtime.open_ticket(intake(description=description), CUSTOMER).number


def field_errors(page: Page, name: str) -> str:
    return page.text_of.get(f"f-{name}-error", "")


# -- sessions and CSRF ----------------------------------------------------------------------------
def test_home_sends_each_visitor_to_their_page(app: Flask, visit: Any) -> None:
    assert app.test_client().get("/").location == "/sign-in"
    assert app.test_client().get("/inbox").location == "/sign-in?next=/inbox"
    assert visit("lena").get("/", 302).location == "/inbox"
    customer = visit("alice")
    assert customer.get("/", 302).location == "/my"
    assert customer.get("/inbox", 302).location == "/my"
    assert visit("otto").get("/my", 302).location == "/inbox"


def test_sign_in_with_a_wrong_token_shows_the_error_in_place(app: Flask, tokens: dict[str, str]) -> None:
    visitor = Visitor(app.test_client())
    visitor.get("/sign-in")
    response = visitor.post("/sign-in", {"token": tokens["lena"] + "x"}, status=401)
    page = Page.of(response.text)
    assert "unknown" in page.text_of["f-token-error"]
    assert page.inputs["token"][0]["aria-describedby"] == "f-token-error"
    assert visitor.get("/inbox", 302).location.startswith("/sign-in")


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(app: Flask, tokens: dict[str, str],
                                                                         runtime: Runtime) -> None:
    number = open_ticket(runtime)
    visitor = Visitor(app.test_client())
    assert visitor.get(f"/tickets/{number}", 302).location == f"/sign-in?next=/tickets/{number}"
    visitor.get(f"/sign-in?next=/tickets/{number}")
    assert visitor.post("/sign-in", {"token": tokens["lena"], "next": f"/tickets/{number}"}).location \
        == f"/tickets/{number}"
    for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        other = Visitor(app.test_client())
        other.get("/sign-in")
        assert other.post("/sign-in", {"token": tokens["lena"], "next": hostile}).location == "/inbox"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(visit: Any) -> None:
    visitor = visit("lena")
    visitor.get("/inbox")
    refused = visitor.post("/sign-out", {}, status=403, csrf="forged")
    assert refused.mimetype == "text/html" and "did not come from a page" in refused.text
    visitor.get("/inbox")  # still signed in
    assert visitor.post("/sign-out", {}).location == "/sign-in"
    assert "You are signed out." in visitor.get("/sign-in").text
    assert visitor.get("/inbox", 302).location.startswith("/sign-in")


def test_every_post_without_the_session_csrf_token_is_refused(app: Flask, visit: Any, tokens: dict[str, str],
                                                              runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    stranger = Visitor(app.test_client())  # never fetched the sign-in form, so has no token
    stranger.post("/sign-in", {"token": tokens["lena"]}, status=403, csrf="")
    visitor = visit("lena")
    visitor.post(f"/tasks/{task.id}/claim", {}, status=403, csrf="")
    visitor.post(f"/tasks/{task.id}", CLASSIFY_FORM, status=403, csrf=stranger.csrf or "guess")
    other_session = visit("lena")  # a token from another session of the same user does not count either
    visitor.post(f"/tasks/{task.id}", CLASSIFY_FORM, status=403, csrf=other_session.csrf)
    task = ready_task(runtime, number)
    assert task.assignee is None and task.element_id == "classify_ticket"


def test_pages_carry_the_security_headers_and_the_stylesheet_is_served(visit: Any) -> None:
    visitor = visit("lena")
    response = visitor.get("/inbox")
    assert response.headers["Content-Security-Policy"] == "default-src 'self'; frame-ancestors 'none'"
    assert "/static/site.css" in response.text and "<script" not in response.text and "style=" not in response.text
    with visitor.client.get("/static/site.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css" and ".errors" in css.text


# -- inboxes --------------------------------------------------------------------------------------
def test_inbox_lists_the_tasks_of_the_lanes_a_role_works_with_filters_and_claims(
        visit: Any, runtime: Runtime) -> None:
    first, second = open_ticket(runtime), open_ticket(runtime)
    complete_current(runtime, second, L1, CLASSIFY)
    first_task, second_task = ready_task(runtime, first), ready_task(runtime, second)

    lena = visit("lena")
    page = Page.of(lena.get("/inbox").text)
    assert {f"/tasks/{first_task.id}", f"/tasks/{second_task.id}"} <= set(page.links)
    assert page.options["lane"] == ["", "L1 Support"]
    assert Page.of(visit("otto").get("/inbox").text).links.count(f"/tasks/{first_task.id}") == 0
    assert "no task is waiting" in visit("otto").get("/inbox").text.lower()
    assert "works no lane" in visit("petra").get("/inbox").text
    assert f"/tasks/{first_task.id}" in Page.of(visit("ada").get("/inbox").text).links  # auditors read all

    lena.post(f"/tasks/{first_task.id}/claim", {})
    assert ready_task(runtime, first).assignee == "lena"
    mine = Page.of(lena.get("/inbox?show=mine").text).links
    assert f"/tasks/{first_task.id}" in mine and f"/tasks/{second_task.id}" not in mine
    unassigned = Page.of(lena.get("/inbox?show=unassigned").text).links
    assert f"/tasks/{second_task.id}" in unassigned and f"/tasks/{first_task.id}" not in unassigned
    assert f"/tasks/{second_task.id}" in Page.of(lena.get("/inbox?lane=L1+Support").text).links
    assert f"/tasks/{second_task.id}" not in Page.of(lena.get("/inbox?lane=L2+Support").text).links

    other = visit("root")
    other.get("/inbox")
    other.post(f"/tasks/{second_task.id}/claim", {})
    lena.get("/inbox")
    conflict = lena.post(f"/tasks/{second_task.id}/claim", {}, status=409)
    assert "already claimed by root" in conflict.text
    lena.post(f"/tasks/{first_task.id}/release", {"next": "/inbox?show=mine"})
    assert ready_task(runtime, first).assignee is None


# -- the task forms along a whole path ------------------------------------------------------------
def work(visitor: Visitor, runtime: Runtime, number: str, form: dict[str, str]) -> str:
    """Open the ticket's ready task, check its widgets, submit ``form``; return the ticket page."""
    task = ready_task(runtime, number)
    page = Page.of(visitor.get(f"/tasks/{task.id}").text)
    widgets = WIDGETS[task.element_id]
    assert {name: page.widget(name) for name in widgets} == widgets
    response = visitor.post(f"/tasks/{task.id}", form)
    assert response.location == f"/tickets/{number}"
    return visitor.get(response.location).text


def form_data(runtime: Runtime, number: str, element_id: str) -> dict[str, Any]:
    completed = [e for e in runtime.ticket_history(number) if e.kind == "task_completed" and e.element_id == element_id]
    return completed[-1].data["form"]


def test_a_ticket_goes_from_classification_through_l2_to_closure_through_the_pages(
        visit: Any, runtime: Runtime) -> None:
    import_kb_file(runtime, DEMO_KB)
    number = open_ticket(runtime)
    lena, otto, alice = visit("lena"), visit("otto"), visit("alice")

    ticket = work(lena, runtime, number, CLASSIFY_FORM)
    assert "“Classify type and priority” is done." in ticket and "Assess known resolution" in ticket
    assess = ready_task(runtime, number)
    assess_page = lena.get(f"/tasks/{assess.id}").text
    assert "Knowledge-base matches" in assess_page and "Invalid token on login after a password reset" in assess_page
    assert "P2" in assess_page  # the priority the classification derived
    work(lena, runtime, number, ASSESS_FORM)
    assert form_data(runtime, number, "assess_first_level") == {
        "resolve_at_first_level": False, "assessment": ASSESS_FORM["assessment"]}

    work(lena, runtime, number, ESCALATE_FORM)
    assert form_data(runtime, number, "escalate_to_l2")["troubleshooting_steps"] == [
        "Cleared browser cache", "Reset the password a second time"]

    investigate = ready_task(runtime, number)
    l2_page = otto.get(f"/tasks/{investigate.id}").text
    assert "Reset the password a second time" in l2_page and "needs server logs" in l2_page  # triage context
    work(otto, runtime, number, INVESTIGATE_FORM)
    assert form_data(runtime, number, "investigate_root_cause")["reproduced"] is True
    assert "reproduction_notes" not in form_data(runtime, number, "investigate_root_cause")
    work(otto, runtime, number, FIX_FORM)
    assert form_data(runtime, number, "apply_definitive_fix")["components_changed"] == ["auth/reset.py",
                                                                                        "auth/cache.py"]
    work(lena, runtime, number, SOLUTION_FORM)
    assert runtime.get_ticket(number).status == "awaiting_customer"

    my = Page.of(alice.get("/my").text)
    validation = ready_task(runtime, number)
    assert f"/tasks/{validation.id}" in my.links
    answer_page = alice.get(f"/tasks/{validation.id}").text
    assert SOLUTION_FORM["customer_message"] in answer_page and "Log out and log in again" in answer_page
    assert "Token cache is not invalidated" not in answer_page  # L2's internals stay with the agents
    closed = work(alice, runtime, number, VALIDATE_FORM)
    assert runtime.get_ticket(number).status == "closed"
    assert 'class="status status-closed"' in closed
    assert f"/tasks/{validation.id}" not in Page.of(alice.get("/my").text).links


def test_the_ticket_page_shows_status_classification_current_step_and_trail(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    lena = visit("lena")
    before = lena.get(f"/tickets/{number}").text
    assert "not classified yet" in before and "Classify type and priority" in before
    text = work(lena, runtime, number, CLASSIFY_FORM)
    assert "Assess known resolution" in text and "incident" in text and "high / medium" in text and "P2" in text
    assert "L1 Support" in text and "task completed" in text
    assert text.count("<tr><td>") == len(runtime.ticket_history(number))


# -- errors in place ------------------------------------------------------------------------------
def test_form_errors_appear_next_to_their_fields_and_the_entered_values_are_kept(
        visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    for form in (CLASSIFY_FORM, ASSESS_FORM):
        complete_current(runtime, number, L1, {**CLASSIFY} if form is CLASSIFY_FORM else {
            "resolve_at_first_level": False, "assessment": "Needs L2, nothing in the knowledge base."})
    task = ready_task(runtime, number)
    assert task.element_id == "escalate_to_l2"
    lena = visit("lena")
    lena.get(f"/tasks/{task.id}")
    typed = {"problem_description": "too short", "troubleshooting_steps": "\r\n  \r\n",
             "escalation_reason": "L1 cannot see the <b>server</b> logs."}
    page = Page.of(lena.post(f"/tasks/{task.id}", typed, status=422).text)
    assert "too short: at least 20 characters" in field_errors(page, "problem_description")
    assert "at least 1 entry" in field_errors(page, "troubleshooting_steps")
    assert field_errors(page, "escalation_reason") == ""
    assert page.inputs["problem_description"][0]["aria-describedby"].endswith("f-problem_description-error")
    assert page.inputs["problem_description"][0]["aria-invalid"] == "true"
    assert page.text_of["f-problem_description"].strip() == "too short"
    assert page.text_of["f-escalation_reason"].strip() == typed["escalation_reason"]
    assert ready_task(runtime, number).state == "ready"

    entry = Page.of(lena.post(f"/tasks/{task.id}", {**ESCALATE_FORM, "troubleshooting_steps": "ok step\nab"},
                              status=422).text)
    assert field_errors(entry, "troubleshooting_steps").startswith("entry 2:")


def test_a_required_yes_no_question_left_unanswered_is_an_error_not_a_no(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    complete_current(runtime, number, L1, CLASSIFY)
    task = ready_task(runtime, number)
    lena = visit("lena")
    page = Page.of(lena.get(f"/tasks/{task.id}").text)
    assert page.options["resolve_at_first_level"] == ["", "yes", "no"]
    assert page.chosen.get("resolve_at_first_level") is None
    refused = Page.of(lena.post(f"/tasks/{task.id}", {**ASSESS_FORM, "resolve_at_first_level": ""},
                                status=422).text)
    assert "is required" in field_errors(refused, "resolve_at_first_level")
    assert refused.text_of["f-assessment"].strip() == ASSESS_FORM["assessment"]
    tampered = Page.of(lena.post(f"/tasks/{task.id}", {**ASSESS_FORM, "resolve_at_first_level": "maybe"},
                                 status=422).text)
    assert "must be of type boolean" in field_errors(tampered, "resolve_at_first_level")
    kept = Page.of(lena.post(f"/tasks/{task.id}", {**ASSESS_FORM, "assessment": "short"}, status=422).text)
    assert kept.chosen["resolve_at_first_level"] == "no"


def test_a_temporary_workaround_without_approver_is_refused_next_to_the_approver(
        visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    lena, otto = visit("lena"), visit("otto")
    for form in (CLASSIFY_FORM, ASSESS_FORM, ESCALATE_FORM):
        work(lena, runtime, number, form)
    work(otto, runtime, number, INVESTIGATE_FORM)
    task = ready_task(runtime, number)
    page = Page.of(otto.post(f"/tasks/{task.id}", {**FIX_FORM, "fix_kind": "temporary_workaround"},
                             status=422).text)
    assert "is required" in field_errors(page, "workaround_approver")
    assert "is required" in field_errors(page, "follow_up_reference")
    assert page.chosen["fix_kind"] == "temporary_workaround"
    assert page.text_of["f-components_changed"].strip() == FIX_FORM["components_changed"]


def test_fields_the_form_does_not_have_are_ignored_not_trusted(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    lena = visit("lena")
    lena.get(f"/tasks/{task.id}")
    lena.post(f"/tasks/{task.id}", {**CLASSIFY_FORM, "priority": "P1", "status": "closed"})
    assert form_data(runtime, number, "classify_ticket") == CLASSIFY
    assert runtime.get_ticket(number).priority == "P2"


def test_a_form_rendered_before_the_ticket_changed_is_a_conflict(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    lena, root = visit("lena"), visit("root")
    lena.get(f"/tasks/{task.id}")
    root.get(f"/tasks/{task.id}")
    root.post(f"/tasks/{task.id}/claim", {})
    page = lena.post(f"/tasks/{task.id}", CLASSIFY_FORM, status=409)
    assert page.mimetype == "text/html" and "Conflict" in page.text
    assert ready_task(runtime, number).element_id == "classify_ticket"


# -- escaping and access --------------------------------------------------------------------------
def test_user_content_is_rendered_as_text_everywhere(visit: Any, runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(subject=f"Broken {XSS}", description=f"It shows {XSS} on the page"),
                                 CUSTOMER).number
    task = ready_task(runtime, number)
    lena, alice = visit("lena"), visit("alice")
    pages = [lena.get(f"/tickets/{number}").text, lena.get(f"/tasks/{task.id}").text, lena.get("/inbox").text,
             alice.get("/my").text, alice.get(f"/tickets/{number}").text]
    for html in pages[:2] + pages[3:]:
        assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in pages[2]
    echoed = lena.post(f"/tasks/{task.id}", {"type": XSS, "impact": "high", "urgency": "low"}, status=422).text
    assert XSS not in echoed and "must be one of" in echoed


def test_l1_registers_a_phoned_in_request_with_errors_shown_in_place(visit: Any, runtime: Runtime) -> None:
    lena = visit("lena")
    inbox = Page.of(lena.get("/inbox").text)
    assert "/tickets/register" in inbox.links
    form = Page.of(lena.get("/tickets/register").text)
    assert form.options["channel"] == ["", "email", "phone", "chat", "api"]  # never the customer's own portal
    refused = Page.of(lena.post("/tickets/register", {"customer": "", "channel": "phone", "subject": "Printer",
                                                      "description": XSS + " it jams", "email": "", "phone": ""},
                                status=422).text)
    assert "customer must be named" in field_errors(refused, "customer")
    assert "email or a phone" in field_errors(refused, "email")
    assert refused.text_of["f-description"].strip() == XSS + " it jams"
    forged = Page.of(lena.post("/tickets/register", {"customer": "bob", "channel": "portal", "subject": "Printer",
                                                     "description": "It jams on every page.", "phone": "123"},
                               status=422).text)
    assert "came in by one of: email, phone, chat, api" in field_errors(forged, "channel")
    created = lena.post("/tickets/register", {"customer": "bob", "channel": "phone", "subject": "Printer jams",
                                              "description": "Bob called: the office printer jams on every page.",
                                              "email": "", "phone": "+49 30 555"})
    number = created.location.rsplit("/", 1)[1]
    view = runtime.get_ticket(number)
    assert (view.customer, view.channel, view.registered_by, view.contact) == ("bob", "phone", "lena",
                                                                             {"phone": "+49 30 555"})
    assert view.ready_tasks[0].element_id == "classify_ticket"
    assert f"Ticket {number} is registered" in lena.get(created.location).text
    assert f"/tickets/{number}" in Page.of(visit("bob").get("/my").text).links  # now the customer's to follow


def test_only_l1_and_admins_register_requests(visit: Any) -> None:
    for name in ("alice", "otto", "ada"):
        visit(name).get("/tickets/register", 403)
    assert "/tickets/register" not in Page.of(visit("otto").get("/inbox").text).links
    visit("root").get("/tickets/register")


def test_customers_see_only_their_own_tickets_and_tasks(visit: Any, runtime: Runtime) -> None:
    import_kb_file(runtime, DEMO_KB)
    mine = open_ticket(runtime)
    theirs = runtime.open_ticket(intake(customer="bob", subject="Export is garbled in Excel", channel="phone"),
                                 L1).number
    task = ready_task(runtime, theirs)
    alice, bob = visit("alice"), visit("bob")
    listing = Page.of(alice.get("/my").text)
    assert f"/tickets/{mine}" in listing.links and f"/tickets/{theirs}" not in listing.links
    refused = alice.get(f"/tickets/{theirs}", 404)
    assert refused.mimetype == "text/html" and f"ticket {theirs} does not exist" in refused.text
    alice.get("/tickets/T-999999", 404)
    assert alice.get(f"/tasks/{task.id}", 404).mimetype == "text/html"
    bob.get(f"/tickets/{theirs}")
    assert bob.get(f"/tasks/{task.id}", 403).mimetype == "text/html"  # his ticket, but an L1 task
    assert visit("otto").get(f"/tasks/{task.id}", 403).mimetype == "text/html"  # L2 cannot work L1's task


def test_an_auditor_reads_a_task_without_a_form_to_send(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    ada = visit("ada")
    page = Page.of(ada.get(f"/tasks/{task.id}").text)
    assert "type" not in page.inputs and "can read this task but not complete it" in ada.get(f"/tasks/{task.id}").text
    ada.post(f"/tasks/{task.id}", CLASSIFY_FORM, status=403)


def test_a_customer_opens_a_ticket_with_errors_shown_in_place(visit: Any, runtime: Runtime, app: Flask) -> None:
    alice = visit("alice")
    form = Page.of(alice.get("/tickets/new").text)
    assert form.inputs["email"][0]["value"] == "alice@example.com"
    refused = Page.of(alice.post("/tickets/new", {"subject": "x", "description": XSS + " it broke",
                                                  "email": "", "phone": ""}, status=422).text)
    assert "3 to 300" in field_errors(refused, "subject")
    assert "email or a phone" in field_errors(refused, "email")
    assert refused.text_of["f-description"].strip() == XSS + " it broke"
    created = alice.post("/tickets/new", {"subject": "Printer offline", "description": "The office printer "
                                          "stopped printing this morning.", "email": "", "phone": "+49 30 1234"})
    number = created.location.rsplit("/", 1)[1]
    view = runtime.get_ticket(number)
    assert (view.customer, view.channel, view.contact) == ("alice", "portal", {"phone": "+49 30 1234"})
    assert f"Ticket {number} is open" in alice.get(created.location).text
    visit("lena").get("/tickets/new", 403)
