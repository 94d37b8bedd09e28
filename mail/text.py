"""A received message's words as people read them: quotes and signature stripped, HTML turned into text.

Stripping is ``mail-parser-reply`` (maintained, MIT, pure Python; GitHub's email_reply_parser rules plus the
reply headers of Outlook, Gmail, Apple Mail and others in several languages). HTML-only mail is turned into
text with the standard library's ``html.parser``: its tags and scripts are never shown or run.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser

LANGUAGES = ["en", "de", "fr", "nl", "it", "es", "ja"]
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"}
_HIDDEN = {"script", "style", "head", "title", "template"}
_BLANK_LINES = re.compile(r"\n{3,}")
_SIGNATURE = re.compile(r"(?m)^-- ?$")  # RFC 3676's signature separator, which the library may leave
_PARSER = EmailReplyParser(languages=LANGUAGES)


def shown_text(body: str) -> str:
    """The newest reply of ``body`` without the quoted conversation below it and without the signature."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    try:
        replies = _PARSER.read(text=text).replies
        latest = replies[0].body if replies else text
    except (IndexError, ValueError):  # a text the library cannot split is shown whole
        latest = text
    latest = _SIGNATURE.split(latest, maxsplit=1)[0]
    return _BLANK_LINES.sub("\n\n", latest).strip() or text.strip()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(" ".join(data.split()) if "\n" in data else data)


def html_to_text(html: str) -> str:
    """The text of an HTML message, one paragraph per block, no markup."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
