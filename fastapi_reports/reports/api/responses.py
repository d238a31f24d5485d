"""What the API's operations answer besides success, for the OpenAPI schema.

Every answer an operation can give is documented, so that clients can rely on
the schema; tests/test_api_schema.py checks every answer against it.
"""

from __future__ import annotations

from typing import Any

from reports.schemas import MAX_BODY_BYTES, Message, ValidationErrors

Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    # The schema inline, not `model=`: FastAPI would document an error of the
    # event stream as text/event-stream, and errors are always JSON.
    json_body = {"schema": Message.model_json_schema()}
    return {"description": description, "content": {"application/json": json_body}}


def _validation_errors() -> dict[str, Any]:
    # Inline too, with the one nested model (FieldError) written in place of its $ref.
    # This replaces FastAPI's HTTPValidationError, which documents `input` and `ctx`
    # the app never sends and lets `detail` be missing: reports/main.py sends this.
    schema = ValidationErrors.model_json_schema()
    schema["properties"]["detail"]["items"] = schema.pop("$defs")["FieldError"]
    return {
        "description": "Bad parameters: each field, and what would be accepted",
        "content": {"application/json": {"schema": schema}},
    }


INVALID: Responses = {422: _validation_errors()}
NOT_SIGNED_IN: Responses = {401: _error("Not signed in")}
NO_SUCH_REPORT: Responses = {404: _error("No such report of yours")}
NOT_NOW: Responses = {409: _error("Not in a state that allows this")}
QUEUE_DOWN: Responses = {503: _error("The broker is unreachable: nothing was queued")}
BAD_BODY: Responses = {
    400: _error("The body could not be read (JSON must be UTF-8)"),
    # Plain text when Content-Length says so up front, JSON when a stream runs over.
    413: {
        "description": f"The body is larger than {MAX_BODY_BYTES:,} bytes",
        "content": {**_error("")["content"], "text/plain": {}},
    },
}
CROSS_SITE: Responses = {
    403: {"description": "Sent from another site (the Origin check)", "content": {"text/plain": {}}}
}
