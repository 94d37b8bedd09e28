"""Personal data removed from knowledge drafts: emails, phone numbers, people (also as named by their addresses),
ticket numbers; words of the trade that are also account names stay."""
from __future__ import annotations

from engine.store.redact import redact


def test_personal_data_is_replaced_and_the_rest_kept() -> None:
    text = ("Call Ada Lovelace at +44 20 7946 0958 or (415) 555-0132, mail ada.king@example.com; see T-000042 and "
            "t-12. lena (L1) and root found the root cause: version 10.2.3 on port 8080 since 2024-03-01.")
    assert redact(text, ["Ada Lovelace", "lena (L1)", "root"]) == (
        "Call [name] at [phone] or [phone], mail [email]; see [ticket] and [ticket]. [name] (L1) and root found the "
        "root cause: version 10.2.3 on port 8080 since 2024-03-01.")


def test_an_address_names_its_person_elsewhere_in_the_text() -> None:
    assert redact("King wrote from a.king@example.com", []) == "[name] wrote from [email]"
    assert redact("Write to support@example.com", []) == "Write to [email]"
