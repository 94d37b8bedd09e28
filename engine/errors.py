"""Domain errors. They carry no HTTP status; the web layer maps them."""
from __future__ import annotations

from dataclasses import dataclass


class TicketflowError(Exception):
    """Base of every error ticketflow reports to a caller."""

    title = "Request failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(TicketflowError):
    title = "Not found"


class Forbidden(TicketflowError):
    title = "Forbidden"


class Conflict(TicketflowError):
    """Stale version, task already claimed or completed, or not ready."""

    title = "Conflict"


@dataclass(frozen=True)
class FieldError:
    pointer: str  # JSON pointer into the submitted document, "" for the whole
    message: str


class InvalidInput(TicketflowError):
    """Input that fails its schema or a rule of the procedure; carries one error per field."""

    title = "Invalid input"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class DefinitionRejected(TicketflowError):
    """A BPMN diagram (or its forms) that must not be deployed; one message per problem."""

    title = "Diagram rejected"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SandboxViolation(TicketflowError):
    """A diagram expression tried something the sandbox does not allow."""

    title = "Expression refused"


class DeadlineExceeded(TicketflowError):
    """The request ran past its time limit and was stopped; its unit of work rolled back, so nothing changed."""

    title = "Service unavailable"

    def __init__(self, limit: float) -> None:
        super().__init__(f"the request took longer than {limit:g} s and was stopped; nothing was changed; try again")
        self.limit = limit


class StepFailed(TicketflowError):
    """An engine step failed (an expression, a script); the ticket was left as it was before it."""

    title = "Process step failed"

    def __init__(self, element: str, cause: BaseException, detail: str | None = None) -> None:
        super().__init__(detail or f"step '{element}' failed: {type(cause).__name__}: {cause}")
        self.element = element
        self.cause = cause

    @property
    def public_detail(self) -> str:
        """What a caller is told: plain words, never the cause's own text (it may be a database's)."""
        return ("an automated step of the procedure could not be completed, so nothing was changed; "
                "try again later, or ask support if it keeps happening")


class ServiceFailed(StepFailed):
    """A service-task handler raised; the ticket was left as it was before the step."""

    title = "Service task failed"

    def __init__(self, operator: str, element: str, cause: BaseException) -> None:
        super().__init__(element, cause,
                         f"service '{operator}' in '{element}' failed: {type(cause).__name__}: {cause}")
        self.operator = operator
