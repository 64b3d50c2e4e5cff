"""What every log record says about its request or task: ids only, never a secret.

A request's id comes from the caller's ``X-Request-ID`` when it is a plain id (``REQUEST_ID``),
else a new UUID; it is answered in ``X-Request-ID``, kept in a context variable for the request
(``RequestContextMiddleware``), sent to the worker with every task queued meanwhile (a Celery
message header) and set again around the task there (``task_context_enter``), so one id follows
a call from the web server into the worker's logs. ``ContextFilter`` puts the ids on every
record; ``JsonFormatter`` (``DJANGO_LOG_FORMAT=json``) writes one JSON object per line with only
the fields below: the ``request`` object some libraries attach (whose text holds the query
string, which may carry an OAuth code) is never written.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

logger = logging.getLogger("frontconnect.request")

# A caller's id is kept only if it is a plain id: letters, digits and - _ . : (a UUID, a trace
# id), 1 to 128 of them. Anything else (spaces, quotes, line breaks that would forge log lines)
# is replaced by a new id.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries it to the worker.
TASK_HEADER = "frontconnect_request_id"

FIELDS = ("request_id", "user_id", "api_key_id", "connection_id")
JSON_FIELDS = ("time", "level", "logger", "message", *FIELDS, "duration", "exc_info", "stack_info")


@dataclass(frozen=True)
class LogContext:
    """The ids of the request or task a record is written for (None: not known)."""

    request_id: str | None = None
    user_id: int | None = None
    api_key_id: int | None = None
    connection_id: int | None = None


# LogContext is frozen: the default is never changed in place.
_context: ContextVar[LogContext] = ContextVar("log_context", default=LogContext())  # noqa: B039


def log_context() -> LogContext:
    return _context.get()


def log_context_update(**fields: Any) -> None:
    """Add ids to the current request's or task's context (e.g. the API key, once known)."""
    _context.set(dataclasses.replace(_context.get(), **fields))


def request_id_accept(raw: object) -> str:
    """The caller's id if it is a plain id, else a new UUID."""
    if isinstance(raw, str) and REQUEST_ID.fullmatch(raw):
        return raw
    return str(uuid.uuid4())


@functools.lru_cache(maxsize=512)
def route_shown(route: str) -> str:
    """A URL pattern as a log line shows it: a regular expression's groups as ``<name>``."""
    shown = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    return "/" + shown.removeprefix("^").removesuffix("\\Z").removesuffix("$")


def _plain_id(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


class ContextFilter(logging.Filter):
    """Puts the current ids (and ``duration``, None unless the record set it) on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in FIELDS:
            setattr(record, name, getattr(context, name))
        if not hasattr(record, "duration"):
            record.duration = None
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: time, level, logger, message, the ids, duration, and the
    traceback of an error; nothing else a record carries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s %(api_key_id)s "
            "%(connection_id)s %(duration)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in [name for name in log_data if name not in JSON_FIELDS]:
            del log_data[name]


def path_shown(path: str) -> str:
    """A path as logs name it: its URL pattern (a link's secret in the path is not written)."""
    try:
        return route_shown(resolve(path).route)
    except Resolver404:
        static = "/" + str(settings.STATIC_URL).strip("/") + "/"
        return "(static file)" if path.startswith(static) else "(no route)"


def _route_of(request: HttpRequest) -> str:
    """What a request line names: the URL pattern, or what answered before URLs were resolved."""
    match = request.resolver_match
    return route_shown(match.route) if match is not None else path_shown(request.path)


class RouteOnlyFilter(logging.Filter):
    """Django's own request records name the path ("Not Found: /path", the development server's
    request line with its query string): the URL pattern replaces it, so neither a link's secret
    in the path nor an OAuth code in the query is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # Once per record, however many times logging was configured (a pattern is no path).
        if not isinstance(args, tuple) or not args or getattr(record, "route_only", False):
            return True
        record.route_only = True
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest) and len(args) == 2 and args[1] == request.path:
            record.args = (args[0], _route_of(request))
        elif record.name == "django.server" and isinstance(args[0], str):
            method, _, rest = args[0].partition(" ")
            target, _, protocol = rest.rpartition(" ")
            if target:
                line = f"{method} {path_shown(target.split('?')[0])} {protocol}"
                record.args = (line, *args[1:])
        return True


class RequestContextMiddleware:
    """Give each request its id (answered in X-Request-ID) and log one line when it is answered.

    The line names the method, the URL pattern (not the path, which may hold a link's secret,
    nor the query) and the status, with the time taken (for a streamed answer, until its headers).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
        token = _context.set(LogContext(request_id=request_id))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            route = _route_of(request)
            logger.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={"duration": round(time.perf_counter() - started, 6)},
            )
            return response
        finally:
            _context.reset(token)

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Once the URL is resolved and the session read: the user and the connection."""
        user = getattr(request, "user", None)
        match = request.resolver_match
        fields: dict[str, int | None] = {}
        if user is not None and user.is_authenticated:
            fields["user_id"] = user.pk
        if match is not None:
            if match.namespace in ("connections", "api") and "pk" in kwargs:
                fields["connection_id"] = _plain_id(kwargs["pk"])
            elif match.url_name and match.url_name.startswith("connections_connection_"):
                fields["connection_id"] = _plain_id(kwargs.get("object_id"))
        if fields:
            log_context_update(**fields)
        return None


# --- Celery: the id travels in a message header and is set again around the task ------------

_task_tokens: dict[str, Token[LogContext]] = {}


def task_headers_add(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: the current request's id goes with the task."""
    request_id = _context.get().request_id
    if headers is not None and request_id:
        headers.setdefault(TASK_HEADER, request_id)


def _task_connection(task: Any, args: Any, kwargs: Any) -> int | None:
    """The connection a task is about, when it takes a ``connection_id``."""
    if isinstance(kwargs, dict) and "connection_id" in kwargs:
        return _plain_id(kwargs["connection_id"])
    try:
        names = list(inspect.signature(task.run).parameters)
    except (TypeError, ValueError):
        return None
    if "connection_id" in names and isinstance(args, list | tuple):
        index = names.index("connection_id")
        if index < len(args):
            return _plain_id(args[index])
    return None


def task_context_enter(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    """``task_prerun``: the id the message carried (else a new one) and the task's connection.

    A task run in place (eager, as in tests) keeps the ids of the request that ran it.
    """
    if task is None or task_id is None:
        return
    request = task.request
    current = _context.get()
    if getattr(request, "is_eager", False) and current.request_id:
        context = current
    else:
        carried = getattr(request, TASK_HEADER, None) or (request.headers or {}).get(TASK_HEADER)
        context = LogContext(request_id=request_id_accept(carried))
    connection = _task_connection(task, args, kwargs)
    if connection is not None:
        context = dataclasses.replace(context, connection_id=connection)
    _task_tokens[task_id] = _context.set(context)


def task_context_exit(task_id: str | None = None, **_: Any) -> None:
    """``task_postrun``: back to the context from before the task."""
    token = _task_tokens.pop(task_id or "", None)
    if token is None:
        return
    try:
        _context.reset(token)
    except ValueError:
        # Set in another context (should not happen): start the next task from nothing.
        _context.set(LogContext())
