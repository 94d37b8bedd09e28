"""The resolution record's quality gate, as data: an ``x-quality`` keyword on a form field.

A field's rules (all optional)::

    "x-quality": {"minWords": 8, "noRepeatedSentences": true,
                  "emptyPhrases": ["fixed", "done", "it works"],
                  "outcomeWords": ["now", "confirmed", "succeeds"]}

``minWords`` counts different words that carry content: empty phrases and filler words do not count.
``outcomeWords`` asks the field to state what was observed: at least one of them must appear.
The form lint checks the keyword's shape; the form validator applies it; the task page shows it as help.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KEYWORD = "x-quality"
RULES: dict[str, type] = {"minWords": int, "noRepeatedSentences": bool, "emptyPhrases": list, "outcomeWords": list}
# Words that join others but say nothing about what was done; they never count as content.
FILLER = frozenset((
    "a", "an", "the", "and", "or", "but", "so", "to", "of", "in", "on", "at", "by", "for", "with", "it", "its",
    "is", "was", "are", "be", "been", "this", "that", "then", "i", "we", "he", "she", "they", "all", "as",
))
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?;\n]+")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased."""
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str, empty_phrases: list[str]) -> set[str]:
    """The different words that carry content: empty phrases cut out first, then filler words dropped."""
    flat = " " + " ".join(words(text)) + " "
    for phrase in sorted(empty_phrases, key=len, reverse=True):  # "it works" before "works"
        spoken = " ".join(words(phrase))
        if spoken:  # whole words only: "done" is empty, "abandoned" is not
            flat = re.sub(rf"(?<!\S){re.escape(spoken)}(?!\S)", " ", flat)
    return {w for w in flat.split() if w not in FILLER}


def repeated_sentence(text: str) -> str | None:
    """The first sentence said twice (case and spacing aside), if any."""
    seen: set[str] = set()
    for sentence in _SENTENCE_END.split(text):
        said = " ".join(words(sentence))
        if said in seen:
            return sentence.strip()
        if said:
            seen.add(said)
    return None


def problems(label: str, rules: Mapping[str, Any], text: str) -> list[str]:
    """Plain-words reasons why ``text`` is too vague to review, one per broken rule."""
    found: list[str] = []
    empty = list(rules.get("emptyPhrases", []))
    repeated = repeated_sentence(text) if rules.get("noRepeatedSentences") else None
    if repeated is not None:
        found.append(f"{label} repeats the sentence '{repeated[:60]}': say each thing once")
    minimum = rules.get("minWords", 0)
    if len(content_words(text, empty)) < minimum:
        found.append(f"{label} says too little to be reviewed: use at least {minimum} different words"
                     f"{_empty_note(empty)}")
    outcome = [w.lower() for w in rules.get("outcomeWords", [])]
    if outcome and not _mentions(text, outcome):
        found.append(f"{label} must say what you observed after the change, for example: "
                     f"{', '.join(repr(w) for w in outcome[:4])}")
    return found


def _mentions(text: str, outcome: list[str]) -> bool:
    flat = " " + " ".join(words(text)) + " "
    return any(f" {' '.join(words(w))} " in flat for w in outcome)


def _empty_note(empty: list[str]) -> str:
    if not empty:
        return ""
    return f" (empty phrases like {', '.join(repr(p) for p in empty[:2])} do not count)"


def help_text(rules: Mapping[str, Any]) -> str:
    """The rule as the agent reads it next to the field, before typing."""
    parts = []
    if rules.get("minWords"):
        parts.append(f"Use at least {rules['minWords']} different words")
    if rules.get("emptyPhrases"):
        parts.append("words like " + ", ".join(f"'{p}'" for p in rules["emptyPhrases"][:4]) + " do not count")
    if rules.get("noRepeatedSentences"):
        parts.append("say each thing once")
    if rules.get("outcomeWords"):
        parts.append("say what you observed (" + ", ".join(f"'{w}'" for w in rules["outcomeWords"][:3]) + ", ...)")
    return ("; ".join(parts) + ".") if parts else ""


def rule_problems(filename: str, pointer: str, rules: Any) -> list[str]:
    """What is wrong with an ``x-quality`` value in a form file, for the form lint."""
    where = f"form '{filename}' has an {KEYWORD} at {pointer}"
    if not isinstance(rules, dict):
        return [f"{where} that is not an object"]
    found = [f"{where} with an unknown rule '{name}' (known: {', '.join(RULES)})" for name in rules
             if name not in RULES]
    for name, kind in RULES.items():
        value: Any = rules.get(name)
        if value is not None and not _fits(value, kind):
            found.append(f"{where} whose '{name}' must be {_kind_words(kind)}")
        elif isinstance(value, list) and not all(isinstance(item, str) and item.strip() for item in value):
            found.append(f"{where} whose '{name}' must list non-empty words or phrases")
    return found


def _fits(value: Any, kind: type) -> bool:
    if kind is int:  # a JSON true is a Python int too: refuse it
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 200
    return isinstance(value, kind)


def _kind_words(kind: type) -> str:
    return {int: "a whole number from 0 to 200", bool: "true or false", list: "a list of words or phrases"}[kind]
