"""The channels page: an admin adds a webhook channel, makes a new secret, retires the older one and removes the
channel, each secret shown once; everyone else is turned away."""
from __future__ import annotations

from typing import Any

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.channels import ChannelAdmin, WebhookIntake
from tests.e2e.conftest import Page

ROOT = Actor("root", "admin")


def secret_on(html: str) -> str:
    """The secret a result page shows once."""
    return Page.of(html).text_of["secret"].strip()


def secrets_held(runtime: Runtime) -> dict[str, int]:
    return {channel.name: channel.secrets for channel in ChannelAdmin(runtime).list_channels(ROOT)}


def test_an_admin_adds_rotates_retires_and_removes_a_channel(visit: Any, runtime: Runtime) -> None:
    root = visit("root")
    assert "No channel yet." in root.get("/channels").text
    added = root.post("/channels", {"name": "mail-gateway"}, status=200)
    secret = secret_on(added.text)
    assert secret.startswith("whsec_") and added.headers["Cache-Control"] == "no-store"
    assert "/webhooks/inbound/mail-gateway/email" in added.text
    listed = root.get("/channels").text
    assert "mail-gateway" in listed and secret not in listed and "Make a new secret" in listed
    assert secrets_held(runtime) == {"mail-gateway": 1}

    rotated = root.post("/channels/mail-gateway/rotate", {}, status=200)
    newer = secret_on(rotated.text)
    assert newer.startswith("whsec_") and newer != secret and "Both secrets are accepted" in rotated.text
    listed = root.get("/channels").text
    assert secret not in listed and newer not in listed and "Retire the older secret" in listed
    assert secrets_held(runtime) == {"mail-gateway": 2}

    root.post("/channels/mail-gateway/retire", {})
    assert "only the newest one is accepted now" in root.get("/channels").text
    assert secrets_held(runtime) == {"mail-gateway": 1}

    root.post("/channels/mail-gateway/remove", {})
    after = root.get("/channels").text
    assert "The channel mail-gateway is removed" in after and "No channel yet." in after
    assert secrets_held(runtime) == {}


def test_a_bad_name_or_a_second_channel_of_the_same_name_is_refused_in_words(visit: Any, runtime: Runtime) -> None:
    root = visit("root")
    root.get("/channels")
    root.post("/channels", {"name": "Mail Gateway!"})
    assert "The channel was not added. A channel name is 1 to 30 lower-case letters" in root.get("/channels").text
    root.post("/channels", {"name": "email"})
    assert "is a built-in channel" in root.get("/channels").text
    root.post("/channels", {"name": "chat-tool"}, status=200)
    root.get("/channels")
    root.post("/channels", {"name": "chat-tool"})
    assert "A channel named &#39;chat-tool&#39; already exists." in root.get("/channels").text
    root.post("/channels/chat-tool/retire", {})
    assert "Nothing was retired. Channel &#39;chat-tool&#39; has one secret" in root.get("/channels").text
    root.post("/channels/nosuch/remove", {})
    assert "Nothing was removed." in root.get("/channels").text
    assert secrets_held(runtime) == {"chat-tool": 1}


def test_every_form_needs_the_pages_csrf_token(visit: Any, runtime: Runtime) -> None:
    root = visit("root")
    root.get("/channels")
    root.post("/channels", {"name": "forged"}, status=403, csrf="not-the-token")
    ChannelAdmin(runtime).add(ROOT, "webform")
    for action in ("rotate", "retire", "remove"):
        root.post(f"/channels/webform/{action}", {}, status=403, csrf="")
    assert secrets_held(runtime) == {"webform": 1}


def test_the_page_counts_the_tickets_each_channel_opened(visit: Any, runtime: Runtime) -> None:
    ChannelAdmin(runtime).add(ROOT, "webform")
    ChannelAdmin(runtime).add(ROOT, "chat-tool")
    delivery = {"subject": "Checkout button does nothing", "customer": "carol", "contact": {"email": "c@example.com"},
                "description": "Clicking 'Pay' on the web form leaves the page exactly as it was."}
    for webhook_id in ("msg_1", "msg_2", "msg_2"):  # a copy opens nothing
        WebhookIntake(runtime).deliver("webform", webhook_id, delivery)
    page = Page.of(visit("root").get("/channels").text)
    assert (page.text_of["tickets-webform"], page.text_of["tickets-chat-tool"]) == ("2", "0")
    assert "by root" in page.text_of["channel-chat-tool"]


def test_only_admins_reach_the_page_and_its_buttons(visit: Any, runtime: Runtime) -> None:
    ChannelAdmin(runtime).add(ROOT, "webform")
    for name in ("lena", "otto", "alice", "ada", "petra"):
        person = visit(name)
        person.get("/channels", status=403)
        for action in ("rotate", "retire", "remove"):
            person.post(f"/channels/webform/{action}", {}, status=403)
        person.post("/channels", {"name": "sneaky"}, status=403)
    assert secrets_held(runtime) == {"webform": 1}
