"""The work done on a ticket, read from its history in the procedure's words: sections (triage, knowledge
base, escalation, each L2 round, resolution, the customer's answers) and a timeline that folds the
automatic steps (service calls, messages queued, tasks made ready) under one line per step.

Labels come from the forms' JSON Schema ``title``s (``engine.usecases.ticket_work.form_words``), never the
data's keys; values are shown as the choice's label, yes/no, or a list.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.usecases.ticket_work import FormWords
from engine.views import EventView
from web.formatting import as_time, duration, relevance

# Which section each user task's answers belong to, in the procedure's order (step 1 to step 4).
SECTIONS = (("triage", "Triage"), ("knowledge", "Known resolutions considered"),
            ("escalation", "Escalation to L2"), ("l2", "L2 investigation and fix, round by round"),
            ("resolution", "Resolution record"), ("customer", "The customer's answers"), ("other", "Other steps"))
SECTION_OF = {"classify_ticket": "triage", "assess_first_level": "knowledge", "escalate_to_l2": "escalation",
              "investigate_root_cause": "l2", "apply_definitive_fix": "l2", "apply_solution": "resolution",
              "test_and_confirm": "customer", "follow_up_with_customer": "customer"}
# Events a person's action made; everything else the engine did on its own and is folded.
AUTOMATIC = frozenset({"process_started", "task_ready", "service_called", "message_queued", "gateway_taken",
                       "timer_fired", "end_reached", "process_completed", "step_retried", "message_delivered",
                       "message_failed", "message_held", "webhook_delivered", "webhook_failed"})
STARTS_A_STEP = frozenset({"timer_fired", "step_retried"})  # the engine acting on its own, not after a person
CLOCK_NAMES = {"first_response": "first response", "resolution": "resolution"}


@dataclass(frozen=True)
class Entry:
    label: str
    value: str | list[str] | datetime  # a time is formatted by the page, in the viewer's zone


@dataclass(frozen=True)
class Record:
    """One completed form (or one service result) as a labelled list, with who and when."""

    heading: str
    by: str
    at: datetime
    entries: list[Entry]
    round: int = 1


@dataclass
class Section:
    id: str
    heading: str
    records: list[Record] = field(default_factory=list)

    @property
    def rounds(self) -> list[tuple[int, list[Record]]]:
        """The records grouped by the pass through the step they belong to (L2's rounds)."""
        grouped: dict[int, list[Record]] = {}
        for record in self.records:
            grouped.setdefault(record.round, []).append(record)
        return sorted(grouped.items())


@dataclass
class Step:
    """One line of the timeline; ``folded`` holds the automatic details under it."""

    at: datetime
    who: str
    what: str
    folded: list[str] = field(default_factory=list)
    element_id: str | None = None


def shown(value: Any, choices: Mapping[str, str] | None = None) -> str | list[str]:
    """A form value as words: a choice's label, yes/no, each list entry as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return [str(shown(item)) for item in value]
    if choices and str(value) in choices:
        return choices[str(value)]
    return "—" if value is None or value == "" else str(value)


def form_entries(form: Mapping[str, Any], words: FormWords | None) -> list[Entry]:
    """A completed form's answers in the form's own order, each under its title."""
    titles = words.fields if words is not None else {}
    choices = words.choices if words is not None else {}
    order = [name for name in titles if name in form] + [name for name in form if name not in titles]
    return [Entry(titles.get(name) or name.replace("_", " ").capitalize(), shown(form[name], choices.get(name)))
            for name in order]


def work_sections(trail: Iterable[EventView], forms: Mapping[str, FormWords]) -> list[Section]:
    """The ticket's work, section by section; sections with nothing yet are left out."""
    sections = {key: Section(key, heading) for key, heading in SECTIONS}
    passes: dict[str, int] = {}
    for event in trail:
        element = event.element_id or ""
        if event.kind == "task_completed" and isinstance(event.data.get("form"), dict):
            passes[element] = passes.get(element, 0) + 1
            words = forms.get(element)
            section = sections[SECTION_OF.get(element, "other")]
            section.records.append(Record(words.title if words else (event.element_name or "Step"), event.actor,
                                          event.at, form_entries(event.data["form"], words), passes[element]))
        elif event.kind == "service_called":
            _service_record(event, sections)
    return [section for section in sections.values() if section.records]


def _service_record(event: EventView, sections: dict[str, Section]) -> None:
    """The service results a person relies on: the derived priority and the knowledge-base matches."""
    operator = event.data.get("operator")
    inputs = event.data.get("inputs") or {}
    result = event.data.get("result")
    if operator == "priority_matrix" and isinstance(result, str):
        why = f"impact {inputs.get('impact', '—')} × urgency {inputs.get('urgency', '—')}"
        sections["triage"].records.append(Record("Priority derived", "automatic", event.at,
                                                 [Entry("Priority", f"{result} (from {why})")]))
    elif operator == "knowledge_base_search" and isinstance(result, list):
        sections["knowledge"].records.append(Record("Knowledge-base matches", "automatic", event.at,
                                                    [Entry("Articles found", kb_lines(result) or ["none"])]))


def kb_lines(matches: list[Any]) -> list[str]:
    """Each match as "title: relevance", never a raw score."""
    scores: list[float] = [m["score"] for m in matches if isinstance(m, dict)
                           and isinstance(m.get("score"), (int, float))]
    best = max(scores) if scores else None
    return [f"{m.get('title') or m.get('slug') or 'An article'}: {relevance(m, best)}"
            for m in matches if isinstance(m, dict)]


def previous_rounds(trail: Iterable[EventView], element_id: str, forms: Mapping[str, FormWords]) -> list[Record]:
    """What earlier passes through ``element_id`` recorded, oldest first (shown beside a repeated step's form)."""
    words = forms.get(element_id)
    found = [e for e in trail if e.kind == "task_completed" and e.element_id == element_id
             and isinstance(e.data.get("form"), dict)]
    return [Record(f"Round {n}", e.actor, e.at, form_entries(e.data["form"], words), n)
            for n, e in enumerate(found, start=1)]


# -- the timeline ---------------------------------------------------------------------------------
def timeline(trail: Iterable[EventView]) -> list[Step]:
    """The trail as lines people read: one per action, what the engine did because of it folded beneath."""
    steps: list[Step] = []
    for event in trail:
        detail = event_words(event)
        if event.kind in AUTOMATIC and event.kind not in STARTS_A_STEP and steps:
            steps[-1].folded.append(detail)
        elif event.kind in AUTOMATIC:  # nobody acted: the engine's own step (a timer ran out, ...)
            name = event.element_name or "The procedure"
            steps.append(Step(event.at, "", f"{name} (automatic)", [detail], event.element_id))
        else:
            steps.append(Step(event.at, event.actor, detail, [], event.element_id))
    return steps


def _sla_words(data: dict[str, Any], kind: str) -> str:
    clock = CLOCK_NAMES.get(str(data.get("clock")), "a service level")
    return f"The {clock} target is {'at risk' if kind == 'sla_at_risk' else 'breached'}"


# kind -> the sentence for (data, the step's name, the lane): one line per kind of event.
_SENTENCES: dict[str, Callable[[dict[str, Any], str, str | None], str]] = {
    "ticket_opened": lambda data, name, lane: f"Opened the ticket (via {data.get('channel', 'the portal')})",
    "task_completed": lambda data, name, lane: f"Completed “{name}”",
    "task_claimed": lambda data, name, lane: f"Took “{name}”",
    "task_released": lambda data, name, lane: f"Handed “{name}” back",
    "task_ready": lambda data, name, lane: f"“{name}” is waiting for {lane or 'someone'}",
    "message_queued": lambda data, name, lane: (
        f"Email prepared: {data.get('subject') or data.get('purpose', 'a message')}"),
    "service_called": lambda data, name, lane: f"{name} done",
    "gateway_taken": lambda data, name, lane: (
        f"Decided “{data.get('gateway') or name}”: {data.get('branch') or 'went on'}"),
    "sla_at_risk": lambda data, name, lane: _sla_words(data, "sla_at_risk"),
    "sla_breached": lambda data, name, lane: _sla_words(data, "sla_breached"),
}


def event_words(event: EventView) -> str:
    """One event in a sentence."""
    sentence = _SENTENCES.get(event.kind)
    if sentence is not None:
        return sentence(event.data, event.element_name or "a step", event.lane)
    return OTHER_WORDS.get(event.kind, event.kind.replace("_", " ").capitalize())


OTHER_WORDS = {
    "process_started": "The procedure started", "end_reached": "The procedure ended",
    "process_completed": "The ticket is closed", "timer_fired": "A waiting time ran out",
    "message_received": "Wrote a message", "reply_posted": "Replied to the customer",
    "note_posted": "Added an internal note", "step_failed": "An automatic step failed (it is retried)",
    "step_retried": "Retried the automatic step", "admin_override": "An administrator stepped in",
    "answer_link_used": "Answered from the email link", "definition_migrated": "Moved to a newer procedure version",
    "message_delivered": "Email message delivered", "message_failed": "Email message not delivered yet (retried)",
    "message_dead": "Email message could not be delivered", "message_held": "Email message held",
    "webhook_delivered": "Webhook delivered", "webhook_failed": "Webhook not delivered yet (retried)",
    "webhook_dead": "Webhook could not be delivered",
}
# The customer's own history: what they did, what we wrote them and whether it arrived; nothing of the team's.
CUSTOMER_WORDS = {"ticket_opened": "You opened the ticket", "message_delivered": "Our email message delivered to you",
                  "message_received": "You wrote to us", "reply_posted": "We replied",
                  "answer_link_used": "You answered from the email link", "process_completed": "Your ticket is closed"}


def customer_timeline(trail: Iterable[EventView], customer: str) -> list[Step]:
    """The customer's history in their words: their actions, our emails to them, the closing."""
    steps: list[Step] = []
    for event in trail:
        if event.kind == "message_queued" and event.data.get("subject"):
            steps.append(Step(event.at, "", f"We wrote to you: {event.data['subject']}"))
        elif event.kind == "task_completed" and event.actor == customer:
            steps.append(Step(event.at, "", f"You answered “{event.element_name or 'our question'}”"))
        elif event.kind in CUSTOMER_WORDS:
            steps.append(Step(event.at, "", CUSTOMER_WORDS[event.kind]))
    return steps


# -- what earlier steps found (the task page) -----------------------------------------------------
# Process data only the engine needs: message ids, the reminder schedule, digests.
HIDDEN_KEYS = frozenset({"message_id", "reminder_cycle", "data_digest", "ticket_number", "contact", "follow_up_at"})
DURATION_KEYS = frozenset({"response_window", "first_response", "resolution"})


def readable_context(context: Mapping[str, Any], labels: Mapping[str, str]) -> list[Entry]:
    """A task's context as labelled words: times as times, durations in words, KB matches with relevance."""
    entries: list[Entry] = []
    for key, value in context.items():
        if key in HIDDEN_KEYS or value is None:
            continue
        label = labels.get(key) or key.replace("_", " ").capitalize()
        if key == "kb_matches" and isinstance(value, list):
            entries.append(Entry(label, kb_lines(value) or ["none"]))
        elif key == "resolution_notice" and isinstance(value, dict):
            steps = value.get("steps")
            entries.append(Entry(label, f"sent to the customer with {steps} step(s) to confirm the fix"
                                 if isinstance(steps, int) and steps else "sent to the customer"))
        elif isinstance(value, dict):
            entries.extend(readable_context(value, labels))
        else:
            entries.append(Entry(label, _value_words(key, value)))
    return entries


def _value_words(key: str, value: Any) -> str | list[str] | datetime:
    if key in DURATION_KEYS and isinstance(value, str):
        return duration(value)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        moment = as_time(value)
        if moment is not None:
            return moment
    return shown(value)
