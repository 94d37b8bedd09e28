"""The answer page behind the links in the customer's validation emails: opening a link only shows the question;
the page's button answers it, as the ticket's customer, without signing in.

Mail scanners and link previews fetch the GET, which changes nothing. The POST carries a proof derived from the
link's token instead of a session's CSRF token (the visitor has no session), so the blueprint's session check is
lifted for this one endpoint and the proof is checked by the use case. The token opens nothing else.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import render_template, request
from werkzeug.wrappers import Response

from engine.errors import InvalidInput, StepFailed
from engine.usecases.answer_links import ANSWERS, AnswerLinks, LinkQuestion, LinkRefused
from web.pages import views
from web.pages.views import pages, runtime

MAX_COMMENT = 4000  # the validation form's own limit (bpmn/forms/test_and_confirm.schema.json)
# Why a link does not work, in a customer's words: (HTTP status, heading, what to do).
REFUSALS = {
    "invalid": (404, "This link does not work",
                "It may have been cut off or changed when it was copied. Please click the link in our latest email "
                "again, or sign in to answer on your ticket's page."),
    "expired": (410, "This link has expired",
                "It is too long since we sent it. Please sign in to tell us whether the issue is resolved, or "
                "reply to our latest email."),
    "superseded": (410, "This link has been replaced",
                   "We have worked on your issue again since we sent it, and written to you about the new fix. "
                   "Please use the links in our latest email."),
    "answered": (410, "Already answered",
                 "This question has already been answered. Thank you: there is nothing more to do here."),
    "forged": (400, "Please answer from the page of your link",
               "Your answer could not be taken because it did not come from the page your link opens. Please "
               "click the link in our email again and press the button there."),
}
THANKS = {
    "resolved": ("Thank you!", "We are glad the issue is solved. Your ticket is now closed; we will send you a "
                 "short confirmation."),
    "persists": ("Thank you for telling us", "Our specialists will look into the issue again, with what you wrote, "
                 "and we will write to you when there is a new fix to test."),
}


def _answer_endpoint_skips_session_csrf() -> None:
    """Let the answer form's POST past the blueprint's session CSRF check: its proof is checked instead."""
    checks = pages.before_request_funcs.setdefault(None, [])
    for index, check in enumerate(checks):
        if check is views._refuse_forged_posts:
            checks[index] = _unless_answering(check)


def _unless_answering(check: Callable[[], Any]) -> Callable[[], Any]:
    def checked() -> Any:
        return None if request.endpoint == "pages.answer_submit" else check()

    return checked


_answer_endpoint_skips_session_csrf()


def answer_links() -> AnswerLinks:
    return AnswerLinks(runtime())


def private(body: str, status: int = 200) -> Response:
    """A page of a link: never cached, and the link never leaves in a Referer header."""
    response = Response(body, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def refused(reason: str) -> Response:
    status, heading, detail = REFUSALS.get(reason, REFUSALS["invalid"])
    return private(render_template("answer_result.html", heading=heading, detail=detail, refused=True), status)


@pages.get("/answer/<token>")
def answer_page(token: str) -> Response:
    try:
        links = answer_links()
        asked = links.question(token)
    except LinkRefused as refusal:
        return refused(refusal.reason)
    except LookupError:  # links are not configured in this installation
        return refused("invalid")
    return private(render_question(links, token, asked))


@pages.post("/answer/<token>")
def answer_submit(token: str) -> Response:
    comment = request.form.get("comment", "")
    try:
        links = answer_links()
        links.answer(token, request.form.get("proof", ""), comment)
    except LinkRefused as refusal:
        return refused(refusal.reason)
    except LookupError:
        return refused("invalid")
    except InvalidInput:  # the comment: too long, or characters no database stores
        return ask_again(links, token, comment)
    except StepFailed:
        return private(render_template(
            "answer_result.html", heading="We could not take your answer just now", refused=True,
            detail="Nothing was changed. Please try the button again in a few minutes."), 503)
    heading, detail = THANKS[links.signer.read(token).answer]
    return private(render_template("answer_result.html", heading=heading, detail=detail, refused=False))


def ask_again(links: AnswerLinks, token: str, comment: str) -> Response:
    """The question again, the comment kept, and what to change in it."""
    try:
        asked = links.question(token)
    except LinkRefused as refusal:
        return refused(refusal.reason)
    error = f"Please keep your comment under {MAX_COMMENT:,} characters of plain text."
    return private(render_question(links, token, asked, comment, error), 422)


def render_question(links: AnswerLinks, token: str, asked: LinkQuestion, comment: str = "",
                    error: str | None = None) -> str:
    """The question, the answer the link gives, its button, and a way to the other answer."""
    claim = asked.claim
    other = next(answer for answer in ANSWERS if answer != claim.answer)
    other_token = links.signer.token(claim.ticket_number, claim.validation_round, other, claim.expires_at)
    return render_template("answer.html", subject=asked.ticket_subject, answer=claim.answer, token=token,
                           proof=links.signer.form_proof(token), other_token=other_token, comment=comment,
                           error=error, max_comment=MAX_COMMENT)
