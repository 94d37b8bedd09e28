"""The knowledge base learns at closure, through the real diagram: drafts from resolutions, reuse of articles."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.runtime import Runtime
from engine.store.models import KbArticle, KbArticleUse, KbArticleVersion
from engine.usecases.knowledge import import_kb_file
from tests.conftest import (
    ASSESS_ESCALATE,
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import kinds, ticket_row
from ticketflow.composition import deploy_file

DEMO_KB = Path(__file__).parents[2] / "ticketflow" / "data" / "demo_kb.json"
PRIVATE_DESCRIPTION = ("Hi, Alice Martin here (alice.martin@example.com, +44 20 7946 0958). Since I reset my "
                       "password the login page says 'invalid token'. Same as T-000007 last month.")
SECOND_CAUSE = "The reset also left a stale token in the regional edge cache, which lena's first fix missed."
SECOND_SOLUTION = {**SOLUTION, "actions_taken": "Purged the regional edge cache for the account after otto "
                   "deployed the second fix, then called +1 415 555 0132 to confirm with the customer; see T-000001.",
                   "observed_outcome": "Login now succeeds from both regions."}


def articles(runtime: Runtime) -> dict[str, KbArticle]:
    with runtime.uow() as uow:
        return {a.slug: a for a in uow.session.scalars(select(KbArticle))}


def uses(runtime: Runtime) -> list[tuple[int, int, str]]:
    with runtime.uow() as uow:
        return [(u.article_id, u.ticket_id, u.relation) for u in uow.session.scalars(select(KbArticleUse))]


def test_a_confirmed_resolution_after_a_persists_loop_becomes_a_draft_without_personal_data(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(customer="alice", description=PRIVATE_DESCRIPTION), CUSTOMER).number
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX),
                        (L1, SOLUTION), (CUSTOMER, PERSISTS), (L2, {**INVESTIGATE, "root_cause": SECOND_CAUSE}),
                        (L2, FIX), (L1, SECOND_SOLUTION)]:
        complete_current(runtime, number, actor, data)
    assert not [a for a in articles(runtime).values() if a.state == "draft"]  # nothing before the customer confirms
    complete_current(runtime, number, CUSTOMER, RESOLVED)

    (draft,) = [a for a in articles(runtime).values() if a.state == "draft"]
    ticket = ticket_row(runtime, number)
    assert draft.source_ticket_id == ticket.id and draft.published_at is None and draft.author == "lena"
    assert draft.title == "Cannot log in after password reset"
    assert "invalid token" in draft.problem and "[email]" in draft.problem and "[phone]" in draft.problem
    assert draft.environment == "type: incident; priority: P2; impact: high"
    assert draft.cause.startswith("The reset also left a stale token")  # the last round's root cause
    assert "Purged the regional edge cache" in draft.resolution
    assert "Fix: Invalidate the token cache" in draft.resolution
    assert "Observed outcome: Login now succeeds from both regions." in draft.resolution
    everything = " ".join((draft.title, draft.problem, draft.environment, draft.cause, draft.resolution, draft.tags))
    for personal in ("alice", "Alice", "Martin", "example.com", "7946", "555 0132", "T-000007", "T-000001", "lena",
                     "otto"):
        assert personal not in everything, personal
    assert (draft.id, ticket.id, "produced") in uses(runtime)
    drafted = [e for e in runtime.ticket_history(number) if e.kind == "kb_draft_created"]
    assert len(drafted) == 1 and drafted[0].data == {"article": draft.slug}
    with runtime.uow() as uow:
        (version,) = uow.session.scalars(select(KbArticleVersion).where(KbArticleVersion.article_id == draft.id))
        assert version.version == 1 and version.cause == draft.cause


def test_a_resolution_that_used_an_article_counts_a_reuse_and_drafts_nothing(runtime: Runtime) -> None:
    import_kb_file(runtime, DEMO_KB)
    before = articles(runtime)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    used = {**SOLUTION, "kb_article_used": "reset-token-cache"}
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, used), (CUSTOMER, RESOLVED)]:
        complete_current(runtime, number, actor, data)
    after = articles(runtime)
    assert set(after) == set(before)  # no draft
    assert after["reset-token-cache"].reuse_count == before["reset-token-cache"].reuse_count + 1 == 1
    assert (after["reset-token-cache"].id, ticket_row(runtime, number).id, "used") in uses(runtime)
    events = runtime.ticket_history(number)
    reused = [e for e in events if e.kind == "kb_article_reused"]
    assert len(reused) == 1 and reused[0].data == {"article": "reset-token-cache"}
    assert "kb_draft_created" not in kinds(runtime, number)


def test_two_drafts_from_the_same_subject_get_different_slugs(runtime: Runtime) -> None:
    for _ in range(2):
        number = runtime.open_ticket(intake(), CUSTOMER).number
        for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION), (CUSTOMER, RESOLVED)]:
            complete_current(runtime, number, actor, data)
    drafts = sorted(slug for slug, a in articles(runtime).items() if a.state == "draft")
    assert drafts == ["cannot-log-in-after-password-reset", "cannot-log-in-after-password-reset-2"]


@pytest.mark.postgres
def test_drafts_and_reuse_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime]) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    import_kb_file(runtime, DEMO_KB)
    for used in ("reset-token-cache", ""):
        number = runtime.open_ticket(intake(description=PRIVATE_DESCRIPTION), CUSTOMER).number
        for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, {**SOLUTION, "kb_article_used": used}),
                            (CUSTOMER, RESOLVED)]:
            complete_current(runtime, number, actor, data)
    found = articles(runtime)
    assert found["reset-token-cache"].reuse_count == 1
    draft = found["cannot-log-in-after-password-reset"]
    assert draft.state == "draft" and "[email]" in draft.problem and "Martin" not in draft.problem
    assert sorted(relation for _, _, relation in uses(runtime)) == ["produced", "used"]
