"""The pure check of an inbound delivery (``webhooks.inbound``), signed by the library's own sender side."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

from engine.usecases.channels import Refusal, VerifiedDelivery, new_secret
from webhooks.inbound import verify_delivery

BODY = json.dumps({"subject": "Help"}).encode()


def headers(secret: str, body: bytes = BODY, webhook_id: str = "msg_1", at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    return {"Webhook-Id": webhook_id, "Webhook-Timestamp": str(int(at.timestamp())),
            "Webhook-Signature": Webhook(secret).sign(webhook_id, at, body.decode())}


def test_a_delivery_signed_by_any_of_the_channels_secrets_verifies() -> None:
    older, newer = new_secret(), new_secret()
    for signer in (older, newer):
        verdict = verify_delivery(headers(signer), BODY, [newer, older])
        assert verdict == VerifiedDelivery("msg_1", {"subject": "Help"})


def test_a_body_changed_after_signing_is_refused_as_unsigned() -> None:
    secret = new_secret()
    verdict = verify_delivery(headers(secret), BODY.replace(b"Help", b"Hacked"), [secret])
    assert isinstance(verdict, Refusal) and verdict.reason == "signature"


def test_a_stale_timestamp_is_named_as_the_reason_whatever_the_signature() -> None:
    secret = new_secret()
    verdict = verify_delivery(headers(secret, at=datetime.now(UTC) - timedelta(minutes=5, seconds=30)), BODY,
                              [secret])
    assert verdict == Refusal("timestamp", "the webhook-timestamp is more than five minutes in the past")


def test_a_signature_header_of_another_shape_is_refused_not_crashed_on() -> None:
    secret = new_secret()
    for garbled in ("v1", "v1,not base64!", "v1,a,b", ""):
        verdict = verify_delivery({**headers(secret), "Webhook-Signature": garbled}, BODY, [secret])
        assert isinstance(verdict, Refusal) and verdict.reason == "signature", garbled


def test_json_constants_that_are_not_json_are_refused_after_the_signature() -> None:
    secret = new_secret()
    body = b'{"subject": NaN}'
    assert verify_delivery(headers(secret, body), body, [secret]) == Refusal("malformed",
                                                                             "the body is not a JSON document")
