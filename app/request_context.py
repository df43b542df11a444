"""The id of the request being served, for log lines; None outside one. Set by the
web layer (app/web/request_ids.py), read by whoever logs."""

from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("allot_request_id", default=None)
