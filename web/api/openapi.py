"""The OpenAPI 3.1 description of API v1, served at /openapi.json and checked by the schemathesis run."""
from __future__ import annotations

from typing import Any

from engine.access import ROLES
from engine.limits import CHANNEL_NAME, DESCRIPTION
from engine.store.ticket_search import TICKET_SORTS
from engine.usecases.channels import NAME_PATTERN
from engine.usecases.kb_fields import ARTICLE_SCHEMA, EDIT_SCHEMA, STATES
from engine.usecases.subscriptions import known_events
from engine.usecases.ticket_list import SLA_STATES
from engine.usecases.tickets import CHANNELS
from web.api.definitions import MIGRATION_SCHEMA
from web.api.reports import report_paths
from web.api.v1 import MAX_OFFSET, MAX_PAGE

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
ERRORS = {400: "Malformed request", 401: "Missing or unknown token", 403: "Not allowed for this role",
          404: "No such ticket, task or article (or not yours)", 409: "Conflict: stale version, already claimed "
          "or completed", 413: "Body over the size limit", 415: "Wrong content type", 422: "Invalid input",
          502: "A process step failed; nothing was changed"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None, extra: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": list(properties) if required is None else required}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _responses(ok: int, schema: dict[str, Any] | None, *errors: int, headers: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    body: dict[str, Any] = {"description": "OK" if ok < 300 else "Created"}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    if headers:
        body["headers"] = headers
    responses[str(ok)] = body
    for code in sorted({400, 401, *errors}):
        responses[str(code)] = {"description": ERRORS[code], "content": {
            "application/problem+json": {"schema": _ref("Problem")}}}
    return responses


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


VERSION = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}  # a definition version number


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


PAGE = [_query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page size (default 50)"),
        _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "items to skip")]
FILTER = {"type": "string", "minLength": 1, "maxLength": 200}
ETAG = {"ETag": {"description": "the ticket version; send it back in If-Match", "schema": {"type": "string"}}}


def _schemas() -> dict[str, Any]:
    task = _obj({"id": {"type": "string"}, "ticket": {"type": "string"}, "element_id": {"type": "string"},
                 "name": {"type": "string"}, "lane": {"type": "string"}, "form": NULLABLE_STRING,
                 "state": {"type": "string", "enum": ["ready", "completed", "cancelled"]},
                 "assignee": NULLABLE_STRING, "created_at": {"type": "string", "format": "date-time"},
                 "href": {"type": "string"}})
    event = _obj({"seq": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                  "actor": {"type": "string"}, "kind": {"type": "string"}, "element_id": NULLABLE_STRING,
                  "element_name": NULLABLE_STRING, "lane": NULLABLE_STRING, "task_id": NULLABLE_STRING,
                  "data": {"type": "object"}, "hash": NULLABLE_STRING})  # null: withheld from customers
    classification = _obj({k: NULLABLE_STRING for k in ("type", "impact", "urgency", "priority")})
    ticket_properties = {
        "number": {"type": "string"}, "status": {"type": "string"}, "subject": {"type": "string"},
        "description": {"type": "string"}, "channel": {"type": "string"}, "customer": {"type": "string"},
        "contact": {"type": "object"}, "registered_by": {"type": "string"}, "unit": {"type": "string"},
        "classification": _ref("Classification"), "priority": NULLABLE_STRING,
        "current_steps": {"type": "array", "items": {"type": "string"}},
        "current_lanes": {"type": "array", "items": {"type": "string"}},
        "ready_tasks": {"type": "array", "items": _ref("Task")},
        "opened_at": {"type": "string", "format": "date-time"}, "first_response_due": NULLABLE_TIME,
        "resolved_at": NULLABLE_TIME, "closed_at": NULLABLE_TIME, "next_timer_at": NULLABLE_TIME,
        "stalled_reason": NULLABLE_STRING, "step_failures": {"type": "integer"}, "version": {"type": "integer"},
        "definition_version": {"type": "integer"}, "href": {"type": "string"},
        "trail": {"type": "array", "items": _ref("Event")},
    }
    ticket = _obj(ticket_properties, [k for k in ticket_properties if k != "trail"])
    summary_keys = ("number", "status", "subject", "description", "customer", "channel", "classification",
                    "priority", "current_steps", "version", "href")
    task_detail = _obj({
        **task["properties"],
        "ticket_summary": _obj({k: ticket_properties[k] for k in summary_keys}),
        "form_schema": _obj({"schema": {"type": "object"}, "ui_schema": {"type": "object"}}),
        "context": {"type": "object"}, "prefill": {"type": "object"},
        "actions": _obj({k: {"type": "string"} for k in ("claim", "release", "complete")}),
    })
    contact = _obj({"email": {"type": "string", "maxLength": 300}, "phone": {"type": "string", "maxLength": 300},
                    "name": {"type": "string", "maxLength": 300}}, [])
    intake = _obj({"subject": {"type": "string", "minLength": 3, "maxLength": 300},
                   "description": {"type": "string", "minLength": 10, "maxLength": 20000},
                   "contact": contact, "unit": {"type": "string"},
                   "channel": {"type": "string", "enum": list(CHANNELS)},
                   "customer": {"type": "string", "maxLength": 200}}, ["subject", "description"])
    text = {"type": "string"}
    article = _obj({**{name: text for name in ("slug", "title", "problem", "environment", "cause", "resolution",
                                                "tags", "body", "keywords", "review_note")},
                    "state": {"type": "string", "enum": list(STATES)}, "published": {"type": "boolean"},
                    "author": {"type": ["string", "null"]}, "reviewer": {"type": ["string", "null"]},
                    "source_ticket": {"type": ["string", "null"]}, "reuse_count": {"type": "integer"},
                    "version": {"type": "integer"}, "versions": {"type": "array", "items": _obj({}, extra=True)},
                    **{name: NULLABLE_TIME for name in ("reviewed_at", "review_by", "published_at", "created_at",
                                                        "updated_at")}})
    article["required"] = [name for name in article["properties"] if name != "versions"]  # versions: one article
    article_input = ARTICLE_SCHEMA
    match = _obj({"slug": text, "title": text, "excerpt": text, "state": text,
                  "relevance": {"type": "string", "enum": ["strong match", "good match", "possible match"]},
                  "snippet_html": {"type": "string", "description": "escaped HTML; matched words in <mark>"}})
    definition = _obj({"key": {"type": "string"}, "version": {"type": "integer"}, "sha256": {"type": "string"},
                       "deployed_by": {"type": "string"}, "deployed_at": {"type": "string", "format": "date-time"},
                       "forms": {"type": "array", "items": {"type": "string"}}, "created": {"type": "boolean"},
                       "active": {"type": "boolean", "description": "new tickets start on this version"},
                       "changed": {"type": "boolean"}},
                      ["key", "version", "sha256", "deployed_by", "deployed_at", "forms", "active"])
    problem = _obj({"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "request_id": {"type": "string", "description": "the request's X-Request-Id: quote it to "
                                   "an operator, who finds its log lines and history events by it"},
                    "errors": {"type": "array", "items": _obj({"pointer": {"type": "string"},
                                                                "detail": {"type": "string"}})}},
                   ["type", "title", "status", "detail"], extra=True)
    # The lists' rows add the service-level clocks (for the team; a customer's rows are plain tickets/tasks).
    listed = _obj({**ticket_properties, "sla_state": {"type": "string", "enum": list(SLA_STATES)},
                   "resolution_due": NULLABLE_TIME, "first_response_at": NULLABLE_TIME}, ticket["required"])
    work_item = _obj({**task["properties"], "subject": text, "customer": text, "priority": NULLABLE_STRING,
                      "sla_state": {"type": "string", "enum": list(SLA_STATES)}, "due": NULLABLE_TIME,
                      "due_kind": {"type": ["string", "null"], "enum": ["first response", "resolution", None]}},
                     task["required"])
    return {"Task": task, "Event": event, "Classification": classification, "Ticket": ticket,
            "ListedTicket": listed, "WorkItem": work_item, "TaskDetail": task_detail, "TicketIntake": intake,
            "KbArticle": article, "KbArticleInput": article_input, "KbArticleEdit": EDIT_SCHEMA,
            "KbMatch": match, "Definition": definition, "Problem": problem,
            "OutboxMessage": _outbox_message_schema(),
            "User": _obj({"name": {"type": "string"}, "role": {"type": "string", "enum": list(ROLES)},
                          "email": NULLABLE_STRING, "unit": NULLABLE_STRING, "time_zone": NULLABLE_STRING,
                          "effective_time_zone": {"type": "string"}})}


def _page_of(item: str) -> dict[str, Any]:
    return _obj({"items": {"type": "array", "items": _ref(item)}, "total": {"type": "integer"},
                 "limit": {"type": "integer"}, "offset": {"type": "integer"}})


def _paths() -> dict[str, Any]:
    ticket_filters = [_query(name, FILTER, f"only tickets with this {name}")
                      for name in ("status", "lane", "priority", "unit", "assignee", "channel")]
    ticket_filters += [
        _query("q", FILTER, "words in the subject, description or conversation (a customer: public replies)"),
        _query("sla_state", {"type": "string", "enum": list(SLA_STATES)}, "only tickets in this SLA state"),
        _query("sort", {"type": "string", "enum": list(TICKET_SORTS)}, "order (default opened: newest first)"),
        _query("cursor", {"type": "string", "maxLength": 400}, "next_cursor of the previous page")]
    task_paths = {
        f"/api/v1/tasks/{{task_id}}/{action}": {"post": {
            "summary": summary, "operationId": f"{action}_task", "parameters": [_path("task_id")],
            **extra, "responses": _responses(200, _ref(schema), *codes, headers=headers)}}
        for action, summary, schema, codes, extra, headers in [
            ("claim", "Claim a ready task; ETag: the ticket's new version, for the complete's If-Match", "Task",
             (403, 404, 409), {}, ETAG),
            ("release", "Release a claimed task; ETag: the ticket's new version", "Task", (403, 404, 409), {}, ETAG),
            ("assign", "Give a ready task to a named agent of its lane (admins and agents of that lane)", "Task",
             (403, 404, 409, 415, 422), {"requestBody": _json_body(_obj({"assignee": {"type": "string"}})),
                                          "parameters": [_path("task_id")]}, ETAG),
            ("complete", "Complete a task with its form data (optionally If-Match: the ticket's ETag)", "Ticket",
             (403, 404, 409, 413, 415, 422, 502),
             {"requestBody": _json_body({"type": "object"}), "parameters": [
                 _path("task_id"), {"name": "If-Match", "in": "header", "required": False,
                                    "schema": {"type": "string", "pattern": '^"[0-9]{1,9}"$'}}]}, ETAG),
        ]}
    return {
        "/api/v1/tickets": {
            "post": {"summary": "Open a ticket (customer: for themself; l1: register an informal request)",
                     "operationId": "open_ticket", "requestBody": _json_body(_ref("TicketIntake")),
                     "responses": _responses(201, _ref("Ticket"), 403, 413, 415, 422, headers={
                         "Location": {"schema": {"type": "string"}}, **ETAG})},
            "get": {"summary": "List tickets (a customer sees only their own); offset up to 10,000, deeper "
                               "pages follow next_cursor; total counts up to 10,000 (total_capped: more)",
                    "operationId": "list_tickets", "parameters": ticket_filters + PAGE,
                    "responses": _responses(200, {**_page_of("ListedTicket"), "properties": {
                        **_page_of("ListedTicket")["properties"], "total_capped": {"type": "boolean"},
                        "next_cursor": NULLABLE_STRING}, "required": ["items", "total", "limit", "offset",
                                                                     "total_capped", "next_cursor"]}, 403, 422)}},
        "/api/v1/tickets/{number}": {"get": {
            "summary": "A ticket with its trail", "operationId": "get_ticket", "parameters": [_path("number")],
            "responses": _responses(200, _ref("Ticket"), 404, headers=ETAG)}},
        "/api/v1/tickets/{number}/history": {"get": {
            "summary": "The ticket's events in order", "operationId": "ticket_history",
            "parameters": [_path("number")],
            "responses": _responses(200, _obj({"ticket": {"type": "string"},
                                               "events": {"type": "array", "items": _ref("Event")}}), 404)}},
        "/api/v1/tickets/{number}/retry": {"post": {
            "summary": "Retry a stalled ticket's failed step now (l1, admin), also after automatic retries stopped",
            "operationId": "retry_ticket", "parameters": [_path("number")],
            "responses": _responses(200, _ref("Ticket"), 403, 404, 409, 502, headers=ETAG)}},
        "/api/v1/tasks": {"get": {
            "summary": "Ready tasks the caller may work, soonest due first (sort=created: oldest first)",
            "operationId": "list_tasks",
            "parameters": [_query("lane", FILTER, "one lane"),
                           _query("sort", {"type": "string", "enum": ["due", "created"]}, "order (default due)"),
                           _query("cursor", {"type": "string", "maxLength": 400}, "next_cursor (sort=due)"),
                           _query("assignee", {"type": "string", "enum": ["me"]}, "only tasks claimed by me"),
                           _query("unassigned", {"type": "string", "enum": ["true", "false"]}, "only unclaimed"),
                           *PAGE],
            "responses": _responses(200, _obj({"items": {"type": "array", "items": _ref("WorkItem")},
                                               "limit": {"type": "integer"}, "offset": {"type": "integer"},
                                               "next_cursor": NULLABLE_STRING}, ["items", "limit", "offset"]),
                                    400, 422)}},
        "/api/v1/tasks/{task_id}": {"get": {
            "summary": "A task with its ticket, form and prefilled context", "operationId": "get_task",
            "parameters": [_path("task_id")], "responses": _responses(200, _ref("TaskDetail"), 403, 404)}},
        **task_paths,
        **_kb_paths(),
        "/api/v1/definitions": {
            "get": {"summary": "Deployed diagram versions", "operationId": "list_definitions",
                    "responses": _responses(200, _obj({"items": {"type": "array", "items": _ref("Definition")}}),
                                            403)},
            "post": {"summary": "Deploy a diagram (process_owner, admin); missing form files come from the "
                                "latest version", "operationId": "deploy_definition",
                     "requestBody": {"required": True, "content": {
                         "multipart/form-data": {"schema": _obj({
                             "bpmn": {"type": "string", "contentMediaType": "application/octet-stream"},
                             "forms": {"type": "array", "items": {
                                 "type": "string", "contentMediaType": "application/octet-stream"}}}, ["bpmn"])},
                         "application/xml": {"schema": {"type": "string"}}}},
                     "parameters": [_query("activate", {"type": "string", "enum": ["true", "false"]},
                                           "false: deploy without activating (default true)"),
                                    _query("base", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                                           "sha256 of the version edited: 409 if another was deployed since")],
                     "responses": {**_responses(201, _ref("Definition"), 403, 409, 413, 415, 422),
                                   "200": {"description": "Identical content: already deployed", "content": {
                                       "application/json": {"schema": _ref("Definition")}}}}}},
        "/api/v1/definitions/lint": {
            "post": {"summary": "Check a diagram without deploying it (process_owner, admin): its problems, each "
                                "on its element", "operationId": "lint_definition",
                     # Files of any bytes: whatever they hold, the answer is what the lint makes of them.
                     "requestBody": {"required": True, "content": {
                         "multipart/form-data": {"schema": _obj({
                             "bpmn": {"contentMediaType": "application/octet-stream"},
                             "forms": {"type": "array", "items": {"contentMediaType": "application/octet-stream"}}},
                             ["bpmn"])},
                         "application/xml": {"schema": {"type": "string"}}}},
                     "responses": _responses(200, _obj({"problems": {"type": "array", "items": _obj({
                         "element": {"type": ["string", "null"]}, "message": {"type": "string"},
                         "form": {"type": ["string", "null"]}})}}), 403, 413, 415, 422)}},
        "/api/v1/definitions/{key}/diff": {
            "get": {"summary": "What changed between two versions, in words", "operationId": "definition_diff",
                    "parameters": [_path("key"),
                                   {**_query("from", VERSION, "the earlier version"),
                                    "required": True},
                                   {**_query("to", VERSION, "the later version"),
                                    "required": True}],
                    "responses": _responses(200, _obj({
                        "key": {"type": "string"}, "from": {"type": "integer"}, "to": {"type": "integer"},
                        "changes": {"type": "array", "items": _obj({
                            "kind": {"type": "string"}, "subject": {"type": "string"},
                            "element": {"type": "string"}, "sentence": {"type": "string"}})}}), 403, 404, 422)}},
        "/api/v1/definitions/{key}/migrations": {
            "post": {"summary": "Move running tickets to another version (process_owner, admin); dry_run assesses",
                     "operationId": "migrate_tickets", "parameters": [_path("key")],
                     "requestBody": _json_body(MIGRATION_SCHEMA),
                     "responses": _responses(200, _obj({
                         "moves": {"type": "array", "items": _obj({
                             "number": {"type": "string"},
                             "outcome": {"type": "string", "enum": ["moved", "movable", "refused", "skipped"]},
                             "standing": {"type": "array", "items": {"type": "string"}},
                             "reason": {"type": "string"}})},
                         "remaining": {"type": "integer"}}), 403, 404, 415, 422)}},
        "/api/v1/definitions/{key}/versions/{version}/activate": {
            "post": {"summary": "Make a deployed version the one new tickets start on (process_owner, admin)",
                     "operationId": "activate_definition",
                     "parameters": [_path("key"), {**_path("version"), "schema": {"type": "integer"}}],
                     "responses": _responses(200, _ref("Definition"), 403, 404)}},
        **_audit_paths(),
        **_outbox_paths(),
        **report_paths(_responses, _query),
        **_channel_paths(),
        **_unit_paths(),
        **_subscription_paths(),
        **_conversation_paths(),
        "/api/v1/me": {"get": {"summary": "Who the token belongs to", "operationId": "me",
                               "responses": _responses(200, _ref("User"))}},
        **_personal_paths(),
        **_view_paths(ticket_filters),
        "/healthz": {"get": {"summary": "Database reachable", "operationId": "healthz", "security": [],
                             "responses": {"200": {"description": "Healthy", "content": {"application/json": {
                                 "schema": _obj({"status": {"type": "string"}, "database": {"type": "string"}})}}},
                                 "503": {"description": "Unhealthy", "content": {
                                     "application/problem+json": {"schema": _ref("Problem")}}}}}},
        **_service_paths(),
    }


def _personal_paths() -> dict[str, Any]:
    """The caller's own time zone (web/api/me.py), any role."""
    name = {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$",
            "description": "an IANA time zone name, e.g. Europe/Lisbon"}
    setting = _obj({"time_zone": {**name, "type": ["string", "null"],
                                  "description": "the caller's own choice; null: the default_time_zone"},
                    "effective_time_zone": {**name, "description": "the zone the caller's times are shown in"},
                    "default_time_zone": {**name, "description": "the caller's unit's zone, else UTC"}})
    return {"/api/v1/me/time-zone": {
        "get": {"summary": "The zone the caller's times are shown in, and why", "operationId": "my_time_zone",
                "responses": _responses(200, setting)},
        "put": {"summary": "Choose the zone the caller's times are shown in; null: the unit's zone (else UTC)",
                "operationId": "set_my_time_zone",
                "requestBody": _json_body(_obj({"time_zone": {**name, "type": ["string", "null"]}})),
                "responses": _responses(200, setting, 413, 415, 422)}}}


def _view_paths(ticket_filters: list[dict[str, Any]]) -> dict[str, Any]:
    """Saved views (web/api/views.py): the support team's named ticket-list queries, per person."""
    filters = {p["name"]: p["schema"] for p in ticket_filters if p["name"] != "cursor"}
    query = {**_obj(filters, []), "description": "the filters and sort GET /api/v1/tickets takes"}
    view = _obj({"name": {"type": "string"}, "query": query, "count": {"type": "integer", "minimum": 0},
                 "count_capped": {"type": "boolean", "description": "the view finds 10,000 tickets or more"},
                 "tickets": {"type": "string", "description": "the ticket list the view stands for"},
                 "href": {"type": "string"}})
    name = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 100}}
    return {
        "/api/v1/views": {
            "get": {"summary": "The caller's saved views, each with how many tickets it finds now (agents)",
                    "operationId": "list_views",
                    "responses": _responses(200, _obj({"items": {"type": "array", "items": view}}), 403)},
            "post": {"summary": "Save a view: a name and the ticket list's filters (agents); a name in use: 409",
                     "operationId": "create_view",
                     "requestBody": _json_body(_obj({"name": {"type": "string", "minLength": 1, "maxLength": 100},
                                                     "query": query}, ["name"])),
                     "responses": _responses(201, view, 403, 409, 413, 415, 422,
                                             headers={"Location": {"schema": {"type": "string"}}})}},
        "/api/v1/views/{name}": {"delete": {
            "summary": "Delete one of the caller's saved views (agents)", "operationId": "delete_view",
            "parameters": [name], "responses": {**_responses(204, None, 403, 404), "204": {"description": "Deleted"}}}},
    }


def _service_paths() -> dict[str, Any]:
    """Readiness and metrics, for load balancers and Prometheus."""
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
    ready = _obj({name: {"type": "string"} for name in ("status", "database", "migrations", "definition")})
    return {
        "/readyz": {"get": {
            "summary": "Ready to serve: database reachable, migrations current, a process definition deployed",
            "operationId": "readyz", "security": [],
            "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": ready}}},
                          "503": {"description": "Not ready; the detail names the check that failed",
                                  "content": problem}}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (text format): without a token from this host only; from elsewhere "
                       "with an admin's or auditor's token",
            "operationId": "metrics",
            "security": [{}, {"bearer": []}],
            "responses": {"200": {"description": "The metrics", "content": {"text/plain": {"schema": {
                "type": "string"}}}},
                "401": {"description": ERRORS[401], "content": problem},
                "403": {"description": ERRORS[403], "content": problem}}}},
    }


def _audit_paths() -> dict[str, Any]:
    """Auditor endpoints (auditor, admin). Their reports are described by their required keys."""
    def report(*keys: str) -> dict[str, Any]:
        return {"type": "object", "required": list(keys)}

    seq = {"type": "integer", "minimum": 1, "maximum": 1_000_000_000}
    when = {"type": "string", "format": "date-time"}
    return {
        "/api/v1/tickets/{number}/audit": {"get": {
            "summary": "Check the ticket's hash chain and anchors; names the first failing event",
            "operationId": "audit_ticket", "parameters": [_path("number")],
            "responses": _responses(200, report("number", "ok", "events", "head_seq", "finding"), 403, 404)}},
        "/api/v1/tickets/{number}/replay": {"get": {
            "summary": "Re-execute the pinned definition on the recorded inputs: consistent or the first "
                       "divergence", "operationId": "replay_ticket",
            "parameters": [_path("number"), _query("until", seq, "stop after this event")],
            "responses": _responses(200, report("number", "outcome", "consistent", "steps", "divergence"),
                                    403, 404, 422)}},
        "/api/v1/tickets/{number}/as-of": {"get": {
            "summary": "The ticket's state (status, data, ready tasks, diagram elements) at event seq",
            "operationId": "ticket_as_of",
            "parameters": [_path("number"), {"name": "seq", "in": "query", "required": True, "schema": seq}],
            "responses": _responses(200, report("number", "seq", "status", "data", "ready_tasks",
                                                "current_elements"), 403, 404, 422)}},
        "/api/v1/audit/verify": {"get": {
            "summary": "Check every ticket's chain and every anchor", "operationId": "audit_verify_all",
            "responses": _responses(200, report("ok", "tickets", "events", "failed", "failures"), 403)}},
        "/api/v1/audit/anchors": {"post": {
            "summary": "Anchor the head of every ticket changed since the last anchor", "operationId": "anchor",
            "responses": _responses(201, report("seq", "tickets", "hash", "prev_hash"), 403)}},
        "/api/v1/audit/export": {"get": {
            "summary": "Stream the events with from <= at < to as JSON Lines or CSV", "operationId": "audit_export",
            "parameters": [{"name": "from", "in": "query", "required": True, "schema": when},
                           {"name": "to", "in": "query", "required": True, "schema": when},
                           _query("format", {"type": "string", "enum": ["jsonl", "csv"]}, "default jsonl")],
            "responses": {**_responses(200, None, 403, 422), "200": {"description": "The events, one per line",
                          "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                      "text/csv": {"schema": {"type": "string"}}}}}}},
    }


def _outbox_paths() -> dict[str, Any]:
    """Admin endpoints over the outbox: the messages to customers and their delivery."""
    message_id = {"name": "message_id", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"}}
    return {
        "/api/v1/outbox": {"get": {
            "summary": "Messages to customers, newest first (admin)", "operationId": "list_outbox",
            "parameters": [_query("state", {"type": "string", "enum": ["pending", "held", "delivered", "dead"]},
                                  "only messages in this state"), *PAGE],
            "responses": _responses(200, _page_of("OutboxMessage"), 403)}},
        "/api/v1/outbox/{message_id}": {"get": {
            "summary": "One message: what it says, to whom, its state, attempts and last error (admin)",
            "operationId": "get_outbox_message", "parameters": [message_id],
            "responses": _responses(200, _ref("OutboxMessage"), 403, 404)}},
        "/api/v1/outbox/{message_id}/retry": {"post": {
            "summary": "Make a held, dead or waiting message due now (admin; recorded in the ticket's history)",
            "operationId": "retry_outbox_message", "parameters": [message_id],
            "responses": _responses(200, _ref("OutboxMessage"), 403, 404, 409)}},
    }


def _conversation_paths() -> dict[str, Any]:
    """A ticket's conversation: read it (customers: public entries only) and write in it."""
    text = {"type": "string"}
    attachment = _obj({"id": {"type": "integer"}, "filename": text, "content_type": text, "size": {"type": "integer"},
                       "href": text})
    item = _obj({"kind": {"type": "string", "enum": ["entry", "email"]}, "id": {"type": "integer"},
                 "at": {"type": "string", "format": "date-time"}, "author": text,
                 "author_kind": {"type": "string", "enum": ["customer", "agent", "system"]},
                 "direction": {"type": "string", "enum": ["inbound", "outbound", "internal"]},
                 "visibility": {"type": "string", "enum": ["public", "internal"]},
                 "source": {"type": "string", "enum": ["portal", "email", "agent", "answer_link", "outbox"]},
                 "subject": NULLABLE_STRING, "text": text, "body": text,
                 "delivery": {"type": ["string", "null"], "enum": ["pending", "held", "delivered", "dead", None]},
                 "flags": {"type": "array", "items": {"type": "string", "enum": [
                     "customer_replied", "from_other_address", "auto_reply", "after_close"]}},
                 "note": NULLABLE_STRING, "attachments": {"type": "array", "items": attachment}})
    message = _obj({"body": {"type": "string", "minLength": 1, "maxLength": DESCRIPTION},
                    "visibility": {"type": "string", "enum": ["public", "internal"]}}, required=["body"])
    return {"/api/v1/tickets/{number}/messages": {
        "get": {"summary": "The ticket's conversation in time order, with the emails sent and their delivery "
                           "(a customer sees public entries only)", "operationId": "list_messages",
                "parameters": [_path("number")],
                "responses": _responses(200, _obj({"ticket": text, "customer_replied": {"type": "boolean"},
                                                   "items": {"type": "array", "items": item}}), 404)},
        "post": {"summary": "Post a message: agents (l1, l2, admin) a public reply, emailed to the customer, or an "
                            "internal note; the ticket's customer a public message", "operationId": "post_message",
                 "parameters": [_path("number")], "requestBody": _json_body(message),
                 "responses": _responses(201, item, 403, 404, 409, 413, 415, 422)}}}


def _channel_paths() -> dict[str, Any]:
    """Webhook channels: admins register them; each posts signed deliveries (Standard Webhooks) that open tickets."""
    name = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$", "maxLength": CHANNEL_NAME}}
    channel = _obj({"name": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                    "created_by": {"type": "string"}, "secrets": {"type": "integer", "minimum": 1, "maximum": 2},
                    "rotated_at": {"type": "string", "format": "date-time"}})
    secret = _obj({"name": {"type": "string"}, "secret": {"type": ["string", "null"], "pattern": "^whsec_"}})
    signed = [{"name": header, "in": "header", "required": True, "schema": {"type": "string"}, "description": text}
              for header, text in (("webhook-id", "the delivery's id: a copy with the same id opens no second ticket"),
                                   ("webhook-timestamp", "seconds since 1970; refused five minutes off either way"),
                                   ("webhook-signature", "'v1,<base64 HMAC-SHA256>' of id.timestamp.body"))]
    delivery = _obj({"subject": {"type": "string", "minLength": 3, "maxLength": 300},
                     "description": {"type": "string", "minLength": 10, "maxLength": DESCRIPTION},
                     "customer": {"type": "string", "minLength": 1, "maxLength": 200},
                     "contact": _obj({"email": {"type": "string", "maxLength": 300},
                                      "phone": {"type": "string", "maxLength": 300},
                                      "name": {"type": "string", "maxLength": 300}}, [])})
    location = {"Location": {"schema": {"type": "string"}}}
    inbound = _responses(201, _ref("Ticket"), 404, 413, 422, headers=location)
    inbound["200"] = {"description": "A copy of an earlier delivery: the ticket it opened", "headers": location,
                      "content": {"application/json": {"schema": _ref("Ticket")}}}
    return {
        "/api/v1/channels": {
            "get": {"summary": "Webhook channels, by name; never their secrets (admin)", "operationId": "list_channels",
                    "responses": _responses(200, _obj({"items": {"type": "array", "items": channel}}), 403)},
            "post": {"summary": "Register a webhook channel; the answer carries its signing secret, shown once (admin)",
                     "operationId": "add_channel", "requestBody": _json_body(_obj({"name": name["schema"]})),
                     "responses": _responses(201, secret, 403, 409, 413, 415, 422)}},
        "/api/v1/channels/{name}/rotate": {"post": {
            "summary": "Add a second secret (both verify), or with retire=true drop the older one (admin)",
            "operationId": "rotate_channel",
            "parameters": [name, _query("retire", {"type": "string", "enum": ["true", "false"]}, "end the rotation")],
            "responses": _responses(200, secret, 403, 404, 409)}},
        "/api/v1/channels/{name}": {"delete": {
            "summary": "Remove a webhook channel; the tickets it opened stay (admin)", "operationId": "remove_channel",
            "parameters": [name], "responses": {**_responses(204, None, 403, 404), "204": {"description": "Removed"}}}},
        "/webhooks/inbound/{channel}": {"post": {
            "summary": "A channel's signed delivery (Standard Webhooks, no bearer token) opens a ticket",
            "operationId": "inbound_webhook", "security": [],
            "parameters": [{**name, "name": "channel"}, *signed], "requestBody": _json_body(delivery),
            "responses": inbound}},
        "/webhooks/inbound/{channel}/email": _email_path([{**name, "name": "channel"}, *signed], location),
    }


def _unit_paths() -> dict[str, Any]:
    """Units and their service levels (web/api/units.py): the document ``ticketflow unit load`` reads, as JSON."""
    duration = {"type": "string", "description": "ISO 8601 days/hours/minutes, e.g. PT4H, P1D (business time)"}
    target = _obj({"first_response": duration, "resolution": duration, "24x7": {"type": "boolean"}},
                  ["first_response", "resolution"])
    fields = {"code": {"type": "string"}, "name": {"type": "string", "minLength": 1, "maxLength": 200},
              "time_zone": {"type": "string", "description": "IANA zone, e.g. Europe/Berlin"},
              "first_response": duration, "response_window": duration, "reminder_every": duration,
              "follow_up_after": {"type": "integer", "minimum": 1, "maximum": 100},
              "hours": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        "description": 'weekday (mon..sun) -> ["09:00-17:00", ...]'},
              "holidays": _obj({"country": {"type": "string"}, "subdivision": {"type": "string"},
                                "calendar": {"type": "string", "description": "iCalendar text, all-day events"}}, []),
              "targets": _obj({p: target for p in ("P1", "P2", "P3", "P4", "P5")})}
    unit = _obj({**fields, "version": {"type": "integer"}})
    body = _obj({**fields, "version": {"type": "integer"}},
                ["name", "time_zone", "first_response", "response_window", "hours", "targets"])
    etag = {"ETag": {"schema": {"type": "string"}}}
    return {
        "/api/v1/units": {"get": {"summary": "Units with their hours, holidays and targets (staff)",
                                  "operationId": "list_units",
                                  "responses": _responses(200, _obj({"items": {"type": "array", "items": unit}}),
                                                          403)}},
        "/api/v1/units/{code}": {
            "get": {"summary": "One unit; its ETag is its version", "operationId": "get_unit",
                    "parameters": [_path("code")], "responses": _responses(200, unit, 403, 404, headers=etag)},
            "put": {"summary": "Create or replace a unit (admin); If-Match optional; running tickets use it from "
                               "their next step", "operationId": "put_unit", "parameters": [_path("code")],
                    "requestBody": _json_body(body),
                    "responses": _responses(200, unit, 400, 403, 409, 413, 415, 422, headers=etag)}},
    }


def _email_path(parameters: list[dict[str, Any]], location: dict[str, Any]) -> dict[str, Any]:
    """A mail gateway's signed delivery of one raw email: read and threaded as `ticketflow mail ingest` does."""
    received = _obj({"outcome": {"type": "string", "enum": ["opened", "added", "internal", "recorded", "duplicate"]},
                     "number": NULLABLE_STRING})
    responses = _responses(201, received, 404, 413, 415, headers=location)
    responses["201"]["description"] = "A new ticket, opened by the message"
    responses["200"] = {"description": "A reply or a note in a ticket's conversation, an auto-reply or bounce "
                                       "recorded only, or a copy of an earlier delivery", "headers": location,
                        "content": {"application/json": {"schema": received}}}
    responses["400"]["description"] = "The message cannot be read (do not send it again)"
    responses["503"] = {"description": "Not stored for now: send it again after Retry-After seconds",
                        "headers": {"Retry-After": {"schema": {"type": "string"}}},
                        "content": {"application/problem+json": {"schema": _ref("Problem")}}}
    return {"post": {
        "summary": "A mail gateway's signed delivery (Standard Webhooks, no bearer token) of one raw RFC 5322 "
                   "message: a new ticket, or a reply threaded into its ticket's conversation",
        "operationId": "inbound_email", "security": [], "parameters": parameters,
        "requestBody": {"required": True, "content": {media: {"schema": {"type": "string"}} for media in (
            "message/rfc822", "application/octet-stream")}},
        "responses": responses}}


def _outbox_message_schema() -> dict[str, Any]:
    text, count = {"type": "string"}, {"type": "integer"}
    return _obj({"id": count, "ticket": NULLABLE_STRING, "purpose": text, "recipient": text, "subject": text,
                 "text": text, "html": NULLABLE_STRING,
                 "state": {"type": "string", "enum": ["pending", "held", "delivered", "dead"]}, "attempts": count,
                 "next_attempt_at": {"type": "string", "format": "date-time"}, "last_error": NULLABLE_STRING,
                 "delivery_response": NULLABLE_STRING, "message_id": text, "in_reply_to": NULLABLE_STRING,
                 "created_at": {"type": "string", "format": "date-time"}, "sent_at": NULLABLE_TIME, "href": text})


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "ticketflow", "version": "1.0.0",
                 "description": "Run the customer-support procedure as a BPMN process. Errors are RFC 9457 "
                                "problem details."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": _schemas()},
    }


def _subscription_paths() -> dict[str, Any]:
    """Outbound webhooks (admin): subscriptions, their deliveries, the dead letters and redelivery."""
    number = {"type": "string", "pattern": "^[0-9]{1,10}$"}
    subscription_id = {"name": "subscription_id", "in": "path", "required": True, "schema": number}
    delivery_id = {"name": "delivery_id", "in": "path", "required": True, "schema": number}
    events = {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(known_events())}}
    subscription = _obj({"id": {"type": "integer"}, "url": {"type": "string"}, "events": events,
                         "description": {"type": "string"}, "disabled": {"type": "boolean"},
                         "disabled_reason": NULLABLE_STRING, "created_at": {"type": "string", "format": "date-time"},
                         "created_by": {"type": "string"}, "href": {"type": "string"}})
    created = {**subscription, "properties": {**subscription["properties"], "secret": {
        "type": "string", "pattern": "^whsec_"}}, "required": [*subscription["required"], "secret"]}
    attempt = _obj({"attempt": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "status": {"type": ["integer", "null"]}, "latency_ms": {"type": "integer"},
                    "error": NULLABLE_STRING})
    delivery = _obj({"id": {"type": "integer"}, "subscription_id": {"type": "integer"}, "event": {"type": "string"},
                     "ticket": NULLABLE_STRING, "state": {"type": "string"},
                     "attempts": {"type": "array", "items": attempt}, "last_error": NULLABLE_STRING,
                     "next_attempt_at": {"type": "string", "format": "date-time"},
                     "created_at": {"type": "string", "format": "date-time"}, "redeliver": {"type": "string"}})
    listing = _obj({"items": {"type": "array", "items": delivery}})
    adding = _obj({"url": {"type": "string", "maxLength": 500}, "events": events,
                   "description": {"type": "string", "maxLength": 200}}, ["url", "events"])
    return {
        "/api/v1/webhooks/subscriptions": {
            "get": {"summary": "Outbound webhook subscriptions; never their secrets (admin)",
                    "operationId": "list_subscriptions",
                    "responses": _responses(200, _obj({"items": {"type": "array", "items": subscription}}), 403)},
            "post": {"summary": "Subscribe a URL to ticket events; the answer carries its signing secret, shown once "
                                "(admin)", "operationId": "add_subscription", "requestBody": _json_body(adding),
                     "responses": _responses(201, created, 403, 413, 415, 422)}},
        "/api/v1/webhooks/subscriptions/{subscription_id}": {
            "get": {"summary": "One subscription (admin)", "operationId": "get_subscription",
                    "parameters": [subscription_id], "responses": _responses(200, subscription, 403, 404)},
            "delete": {"summary": "Stop sending to a subscription; its history stays (admin)",
                       "operationId": "remove_subscription", "parameters": [subscription_id],
                       "responses": {**_responses(204, None, 403, 404), "204": {"description": "Removed"}}}},
        "/api/v1/webhooks/subscriptions/{subscription_id}/deliveries": {"get": {
            "summary": "The subscription's latest deliveries with their attempts: status codes, latency (admin)",
            "operationId": "list_subscription_deliveries", "parameters": [subscription_id],
            "responses": _responses(200, listing, 403, 404)}},
        "/api/v1/webhooks/dead-letters": {"get": {
            "summary": "Webhook deliveries given up on (admin)", "operationId": "list_dead_letters",
            "responses": _responses(200, listing, 403)}},
        "/api/v1/webhooks/deliveries/{delivery_id}/redeliver": {"post": {
            "summary": "Deliver a dead or waiting webhook event again now (admin; recorded in the ticket's history)",
            "operationId": "redeliver_webhook", "parameters": [delivery_id],
            "responses": _responses(200, delivery, 403, 404, 409)}},
    }


def _kb_review(action: str, summary: str, *errors: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "operationId": f"kb_{action.replace('-', '_')}",
                                 "parameters": [_path("slug")],
                                 "responses": _responses(200, _ref("KbArticle"), 403, 404, *errors)}
    if body is not None:
        operation["requestBody"] = _json_body(body)
    return {"post": operation}


def _kb_paths() -> dict[str, Any]:
    """The knowledge base (web/api/knowledge.py): search, articles and their review."""
    query = [{"name": "q", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1,
                                                                        "maxLength": 1000}},
             _query("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "at most")]
    found = _responses(200, _obj({"query": {"type": "string"}, "items": {"type": "array", "items": _ref("KbMatch")}}),
                       400, 403)
    article = "/api/v1/kb/articles/{slug}"
    return {
        "/api/v1/kb/search": {"get": {"summary": "Agents: ranked search with marked snippets (drafts included)",
                                      "operationId": "kb_search", "parameters": query, "responses": found}},
        "/api/v1/kb/suggest": {"get": {"summary": "Anyone: published articles only; the last word may be "
                                                  "unfinished", "operationId": "kb_suggest", "parameters": query,
                                       "responses": found}},
        "/api/v1/kb/articles": {
            "get": {"summary": "Articles; ?state=draft is the review queue, oldest first", "operationId": "kb_articles",
                    "parameters": [*PAGE, _query("state", {"type": "string", "enum": list(STATES)}, "one state")],
                    "responses": _responses(200, _page_of("KbArticle"), 403, 422)},
            "post": {"summary": "Add an article (l2, process_owner, admin)", "operationId": "kb_add_article",
                     "requestBody": _json_body(_ref("KbArticleInput")),
                     "responses": _responses(201, _ref("KbArticle"), 403, 409, 413, 415, 422)}},
        article: {
            "get": {"summary": "One article with its versions (customers: published only)",
                    "operationId": "kb_article", "parameters": [_path("slug")],
                    "responses": _responses(200, _ref("KbArticle"), 403, 404)},
            "patch": {"summary": "Edit (a new version); If-Match: the version read -> 409 when stale",
                      "operationId": "kb_edit_article", "parameters": [_path("slug")],
                      "requestBody": _json_body(_ref("KbArticleEdit")),
                      "responses": _responses(200, _ref("KbArticle"), 400, 403, 404, 409, 415, 422)}},
        f"{article}/submit": _kb_review("submit", "Draft to review", 409),
        f"{article}/publish": _kb_review("publish", "Publish (sets reviewer, review dates)", 409),
        f"{article}/archive": _kb_review("archive", "Withdraw the article", 409),
        f"{article}/send-back": _kb_review("send-back", "Back to draft with a note", 409, 413, 415, 422,
                                           body=_obj({"note": {"type": "string", "minLength": 1, "maxLength": 500}},
                                                     ["note"])),
        f"{article}/deflections": {"post": {
            "summary": "Customer: this article answered my question (no ticket opened)", "operationId": "kb_deflect",
            "parameters": [_path("slug")],
            "requestBody": {"required": False, "content": {"application/json": {"schema": _obj(
                {"query": {"type": "string"}})}}},
            "responses": _responses(204, None, 403, 404, 413, 415, 422)}},
    }
