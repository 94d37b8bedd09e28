"""Verify an inbound delivery the Standard Webhooks way: ``webhook-id``, ``webhook-timestamp`` (within five minutes
either way) and ``webhook-signature`` (v1, HMAC-SHA256 over id, timestamp and the raw body, compared in constant
time), all done by the ``standardwebhooks`` library; this module only tries each of a channel's secrets (two during a
rotation) and says in plain words why a delivery is refused. Pure: headers, body and secrets in, a verdict out."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine import limits
from engine.usecases.channels import Refusal, VerifiedDelivery

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# The library's words for a timestamp outside its five-minute tolerance (it raises one error type for everything).
STALE = {"Message timestamp too old": "the webhook-timestamp is more than five minutes in the past",
         "Message timestamp too new": "the webhook-timestamp is more than five minutes in the future",
         "Invalid Signature Headers": "the webhook-timestamp is not a number of seconds since 1970"}


def verify_delivery(headers: Mapping[str, str], body: bytes, secrets: Sequence[str],
                    json_body: bool = True) -> VerifiedDelivery | Refusal:
    """The delivery's webhook-id and JSON body (None unless ``json_body``) when one of ``secrets`` signed it
    recently, else why not."""
    given = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in HEADERS if not given.get(name)]
    if missing:
        return Refusal("signature", f"the delivery lacks the Standard Webhooks header(s) {', '.join(missing)}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal("malformed", "the body is not UTF-8 text")
    refusal = _signature_refusal(given, text, secrets)
    if refusal is not None:
        return refusal
    if len(given["webhook-id"]) > limits.WEBHOOK_ID or limits.unstorable(given["webhook-id"]):
        return Refusal("malformed", f"the webhook-id must be at most {limits.WEBHOOK_ID} characters of text")
    if not json_body:
        return VerifiedDelivery(given["webhook-id"], None)
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return Refusal("malformed", "the body is not a JSON document")
    return VerifiedDelivery(given["webhook-id"], payload)


def _signature_refusal(headers: dict[str, str], text: str, secrets: Sequence[str]) -> Refusal | None:
    """None when one of ``secrets`` verifies the delivery; otherwise the reason the last one gave."""
    reason = "the webhook-signature matches none of the channel's secrets"
    for secret in secrets:
        try:
            Webhook(secret).verify(text, headers, json_parse=False)
            return None
        except WebhookVerificationError as failure:
            stale = STALE.get(str(failure))
            if stale is not None:
                return Refusal("timestamp", stale)  # the same for every secret: no need to try the others
        except ValueError:  # the library unpacks "v1,<base64>" without guarding against other shapes
            reason = "the webhook-signature is not a list of 'v1,<base64 signature>'"
    return Refusal("signature", reason)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class StandardWebhooksVerifier:
    """The ``DeliveryVerifier`` the composition root hands the web app."""

    def __call__(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str],
                 json_body: bool = True) -> VerifiedDelivery | Refusal:
        return verify_delivery(headers, body, secrets, json_body)
