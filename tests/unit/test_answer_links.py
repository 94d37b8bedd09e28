"""The answer links' tokens: what they say, that any edit breaks them, their expiry and the form's proof."""
from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest

from engine.usecases.answer_links import GRACE, AnswerLinkSigner, LinkClaim, LinkRefused

RESPOND_BY = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
SIGNER = AnswerLinkSigner("unit-test-secret", "https://support.example.com/")


def token_of(url: str) -> str:
    return url.rsplit("/answer/", 1)[1]


def test_a_round_has_one_link_per_answer_under_the_base_url_valid_for_the_grace_past_the_due_time() -> None:
    urls = SIGNER.answer_urls("T-000042", 2, RESPOND_BY)
    assert set(urls) == {"resolved_url", "persists_url"}
    assert all(url.startswith("https://support.example.com/answer/") for url in urls.values())
    claims = {key: SIGNER.read(token_of(url)) for key, url in urls.items()}
    assert claims["resolved_url"] == LinkClaim("T-000042", 2, "resolved", RESPOND_BY + GRACE)
    assert claims["persists_url"] == LinkClaim("T-000042", 2, "persists", RESPOND_BY + GRACE)
    assert timedelta(days=30) == GRACE


def test_a_token_edited_in_any_one_character_is_refused() -> None:
    token = token_of(SIGNER.answer_urls("T-000042", 1, RESPOND_BY)["resolved_url"])
    alphabet = string.ascii_letters + string.digits + "-_."
    for position, original in enumerate(token):
        for replacement in (alphabet[(alphabet.index(original) + 1) % len(alphabet)], "A" if original != "A" else "B"):
            edited = token[:position] + replacement + token[position + 1:]
            with pytest.raises(LinkRefused) as refused:
                SIGNER.read(edited)
            assert refused.value.reason == "invalid", (position, edited)


def test_a_token_signed_with_another_key_or_made_up_is_refused() -> None:
    other = AnswerLinkSigner("another-installation")
    foreign = token_of(other.answer_urls("T-000042", 1, RESPOND_BY)["resolved_url"])
    for token in (foreign, "", "x", "a.b", "W10.abc", "T-000042", "A" * 5000):
        with pytest.raises(LinkRefused):
            SIGNER.read(token)


def test_the_form_proof_holds_only_for_its_own_token() -> None:
    urls = SIGNER.answer_urls("T-000042", 1, RESPOND_BY)
    resolved, persists = token_of(urls["resolved_url"]), token_of(urls["persists_url"])
    proof = SIGNER.form_proof(resolved)
    assert SIGNER.proof_holds(resolved, proof)
    assert not SIGNER.proof_holds(persists, proof)
    assert not SIGNER.proof_holds(resolved, "")
    assert not SIGNER.proof_holds(resolved, proof[:-2] + ("AA" if proof[-2:] != "AA" else "BB"))
    assert not AnswerLinkSigner("another-installation").proof_holds(resolved, proof)


def test_the_secret_is_read_only_when_a_link_is_written() -> None:
    asked: list[str] = []

    def secret() -> str:
        asked.append("secret")
        return "lazy-secret"

    lazy = AnswerLinkSigner(secret)
    assert asked == []
    lazy.answer_urls("T-000001", 1, RESPOND_BY)
    lazy.answer_urls("T-000001", 1, RESPOND_BY)
    assert asked == ["secret"]
