"""Logs operators can search: one request id per request, end to end, and JSON lines.

- `RequestIdMiddleware` gives every request one id: the caller's `X-Request-Id` when it is
  well-formed (a proxy in front sets it, so its log and ours line up), else a new uuid4. The id
  is on `request.request_id`, in every log record made while the request runs (through
  `RequestIdFilter`), in the audit events of the request (api/views.py and console callers read
  it) and in the response's `X-Request-Id` header. It also writes one access line per request.
- `JsonFormatter` writes one JSON object per line: time, level, logger, message, request_id,
  the exception if any, and only the extra fields named in `EXTRA_FIELDS`.

Why not python-json-logger: it copies every `extra` attribute of a record into the output
(Django's own loggers attach the whole request object; a dataclass is dumped member by member).
Here a secret could reach the logs by someone adding an `extra`; so the fields are a fixed list
and the formatter is the twenty lines below on the standard library's json.

Never logged: request or response bodies, query strings, headers (Authorization carries a
SigV4 signature, cookies a session). The access line names the path only.
"""

import contextvars
import datetime
import json
import logging
import re
import time
import uuid

from django.core.signals import request_finished

# The request id of the request this thread (or asyncio task) is serving, "" outside one.
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "kmsconsole_request_id", default="")

# Letters, digits and . _ : - only (no spaces, quotes or newlines that could forge a log line or
# break a header), 8 to 64 characters (the audit trail's requestID column holds 64): uuids, a
# proxy's 32 hex digits (nginx's $request_id), ULIDs.
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")

# The only fields besides the fixed ones that reach a JSON line (see the module docstring).
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "view", "operation", "error_code")
MAX_LOGGED_PATH = 512

access_log = logging.getLogger("kmsconsole.access")


def current_request_id() -> str:
    """The id of the request being served, or "" outside a request (a Celery task, a command)."""
    return _current_request_id.get()


def request_id_of(request) -> str:
    """The id RequestIdMiddleware gave `request`; a new one if the middleware did not run."""
    return getattr(request, "request_id", "") or str(uuid.uuid4())


def incoming_request_id(request) -> str | None:
    value = request.headers.get("X-Request-Id", "")
    return value if WELL_FORMED_REQUEST_ID.fullmatch(value) else None


class RequestIdMiddleware:
    """One id per request (see the module docstring); one access log line per request.

    Put it first in MIDDLEWARE, so that what every later middleware logs carries the id too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = incoming_request_id(request) or str(uuid.uuid4())
        # Kept until the response is closed (request_finished below), not only until this
        # returns: Django logs a 4xx/5xx ("Bad Request: /") after the middleware has run.
        _current_request_id.set(request.request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        log_access(request, response, time.perf_counter() - started)
        return response


def _forget_request_id(**kwargs) -> None:
    """The thread serves another request next, or nothing: no line may carry this id."""
    _current_request_id.set("")


request_finished.connect(_forget_request_id, dispatch_uid="kmsconsole.logs.forget_request_id")


def log_access(request, response, seconds: float) -> None:
    match = getattr(request, "resolver_match", None)
    fields = {
        "method": request.method,
        "path": request.path[:MAX_LOGGED_PATH],
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
        "view": match.view_name if match else "",
    }
    # Set by the KMS API view (api/views.py): which operation, and the AWS error code if any.
    operation = getattr(request, "kms_operation", "")
    if operation:
        fields["operation"] = operation
        fields["error_code"] = getattr(response, "kms_error_code", "")
    access_log.info("%s %s %s %sms", fields["method"], fields["path"], fields["status"],
                    fields["duration_ms"], extra=fields)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (as `request_id`; "-" outside a request in
    the text format, null in JSON), so handlers' formatters can name it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """The development format: one readable line with the request id in brackets."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", ""):
            record.request_id = "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for what is in it and why)."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        for name in EXTRA_FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # default=str: an unexpected value type must not lose the line.
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING: everything to standard error, in `log_format` ("json" or "text")."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"],
                                 "formatter": "default"}},
        "root": {"handlers": ["console"], "level": level},
    }
