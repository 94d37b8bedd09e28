"""The knowledge-base pages: review queue, article review and edit, search with marks, the customer's help search,
suggestions on the "open a ticket" page and "This answered my question"."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.runtime import Runtime
from engine.store.models import KbDeflection, Ticket
from engine.usecases.knowledge import create_article, import_kb_file
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, CUSTOMER, L1, L2, complete_current, intake
from tests.e2e.conftest import Page

DEMO_KB = Path(__file__).parents[2] / "ticketflow" / "data" / "demo_kb.json"
DRAFT = {"slug": "printer-offline", "title": "Printer shows offline after a router change",
         "problem": "The office printer shows as offline on every laptop.", "cause": "An old fixed IP address.",
         "resolution": "Set the printer to DHCP and add it again on each laptop."}


def count(runtime: Runtime, model: Any) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_reviewer_edits_and_publishes_a_draft_from_the_queue(runtime: Runtime, visit: Any) -> None:
    create_article(runtime, DRAFT, L2)
    otto = visit("otto")
    queue = Page.of(otto.get("/kb/review").text)
    assert "/kb/articles/printer-offline" in queue.links
    page = otto.get("/kb/articles/printer-offline").text
    assert "Submit for review" in page and "Publish" in page and "Versions" in page
    form = {"title": DRAFT["title"], "problem": DRAFT["problem"], "environment": "HP LaserJet, office Wi-Fi",
            "cause": DRAFT["cause"], "resolution": DRAFT["resolution"], "tags": "printer offline", "version": "1",
            "note": "named the printer"}
    otto.post("/kb/articles/printer-offline/edit", form)
    stale = otto.post("/kb/articles/printer-offline/edit", {**form, "tags": "router"}, status=409)
    assert "changed since you read it" in stale.text
    otto.post("/kb/articles/printer-offline/publish", {})
    published = otto.get("/kb/articles/printer-offline").text
    assert "Published" in published and "reviewed by otto" in published and "named the printer" in published
    assert "/kb/articles/printer-offline" not in Page.of(otto.get("/kb/review").text).links
    otto.post("/kb/articles/printer-offline/publish", {})  # wrong state: said on the page, nothing changes
    assert "cannot be published" in otto.get("/kb/articles/printer-offline").text


def test_agents_search_with_marked_words_and_customers_only_see_published_help(runtime: Runtime, visit: Any) -> None:
    import_kb_file(runtime, DEMO_KB)
    agent = visit("lena").get("/kb?q=invoice+logo").text
    assert "Draft: invoice PDF missing logo" in agent and "<mark>" in agent
    assert "strong match" in agent or "good match" in agent
    customer = visit("alice").get("/kb?q=invoice+logo").text
    assert "invoice PDF missing logo" not in customer and "open a ticket" in customer
    help_page = visit("alice").get("/kb?q=garbled+excel+export").text
    assert "Exported CSV shows garbled characters in Excel" in help_page
    visit("alice").get("/kb/articles/invoice-pdf-draft", status=404)
    visit("lena").get("/kb/review", status=403)


def test_the_new_ticket_page_suggests_articles_and_an_answer_counts_as_deflected(runtime: Runtime,
                                                                                  visit: Any) -> None:
    import_kb_file(runtime, DEMO_KB)
    alice = visit("alice")
    form = alice.get("/tickets/new").text
    assert "kb_suggest.js" in form and 'id="kb-suggestions"' in form and "<script>" not in form
    suggested = alice.client.get("/kb/suggest?q=invalid tok").json
    assert [s["title"] for s in suggested["items"]][:1] == ["Invalid token on login after a password reset"]
    alice.get(suggested["items"][0]["url"])
    tickets = count(runtime, Ticket)
    alice.post(suggested["items"][0]["answered_url"], {"query": "invalid tok"})
    assert count(runtime, KbDeflection) == 1 and count(runtime, Ticket) == tickets


def test_the_resolution_form_shows_its_quality_rule_before_typing(runtime: Runtime, visit: Any) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    complete_current(runtime, number, L1, ASSESS_RESOLVE)
    task = runtime.get_ticket(number).ready_tasks[0]
    lena = visit("lena")
    page = Page.of(lena.get(f"/tasks/{task.id}").text)
    hint = page.text_of["f-actions_taken-hint"]
    assert "at least 7 different words" in hint and "'fixed'" in hint
    assert "say what you observed" in page.text_of["f-observed_outcome-hint"]
    vague = {"actions_taken": "Fixed. Fixed. Fixed. Fixed. Fixed. ok", "configuration_changes": "none",
             "observed_outcome": "It is all good now.", "kb_article_used": "",
             "customer_message": "We fixed the login problem after password resets.",
             "customer_steps": "Log out and log in again"}
    refused = Page.of(lena.post(f"/tasks/{task.id}", vague, status=422).text)
    assert "repeats the sentence 'Fixed'" in refused.text_of["f-actions_taken-error"]
    assert "at least 7 different words" in refused.text_of["f-actions_taken-error"]
    assert runtime.get_ticket(number).ready_tasks[0].id == task.id  # nothing changed
