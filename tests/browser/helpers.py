"""What the journeys do on a page: fill a task form the way a person would, and read the diagram's marks."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime


def fill_form(page: Any, data: dict[str, Any]) -> None:
    """Set each named control to ``data``'s value (select, checkbox, radio, text or one line per item)."""
    for name, value in data.items():
        control = page.locator(f"[name='{name}']").first
        kind = control.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if kind.startswith("select"):
            control.select_option(("yes" if value else "no") if isinstance(value, bool) else str(value))
        elif kind == "input:checkbox":
            control.set_checked(bool(value))
        elif kind == "input:radio":
            page.check(f"[name='{name}'][value='{value}']")
        else:
            control.fill("\n".join(value) if isinstance(value, list) else str(value))


def complete_task(page: Any, data: dict[str, Any]) -> None:
    """Fill the task form on the page and send it; the ticket page follows."""
    fill_form(page, data)
    with page.expect_navigation():
        page.click("form.task-form button[type=submit]")
    assert "/tickets/" in page.url, page.url


def open_ready_task(page: Any, runtime: Runtime, number: str) -> str:
    """Follow the link to the ticket's single ready task from the current page; its element id."""
    [task] = runtime.get_ticket(number).ready_tasks
    with page.expect_navigation():
        page.click(f"a[href='/tasks/{task.id}']")
    page.wait_for_selector("form.task-form")
    return task.element_id


def marked(page: Any, marker: str) -> set[str]:
    """The element ids the bpmn-js viewer drew with ``marker`` (after it finished drawing)."""
    page.wait_for_selector(".bpmn-diagram[data-state=ready]", state="attached")
    ids: list[str] = page.eval_on_selector_all(
        f".bpmn-diagram .djs-element.{marker}", "nodes => nodes.map(n => n.getAttribute('data-element-id'))")
    return set(ids)


def badge(page: Any, element_id: str) -> str:
    """The text of the count badge the viewer put on ``element_id``."""
    return str(page.locator(f".bpmn-diagram .djs-overlays[data-container-id='{element_id}'] .diagram-count")
               .inner_text())
