"""Structured logging with a filter that keeps secrets out of every record.

Two layers of protection: the exact values of every configured key are replaced wherever they
appear, and key-bearing query parameters and auth headers are redacted by pattern (covering
keys we were never told about, e.g. in an upstream URL logged by httpx).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

REDACTED = "***"

_QUERY_KEYS = (
    r"api[_-]?key|apikey|token|access[_-]?token|x_cg_demo_api_key|x_cg_pro_api_key"
    r"|cmc_pro_api_key|crumb|key|secret|password"
)
_QUERY_RE = re.compile(rf"(?i)([?&;](?:{_QUERY_KEYS})=)[^&\s'\"#]+")
_HEADER_RE = re.compile(
    r"(?i)((?:authorization|x-api-key|x-finnhub-token|x-cmc_pro_api_key|x-cg-demo-api-key"
    r"|x-cg-pro-api-key|x-mbx-apikey)[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|token\s+)?[^\s,'\"}]+"
)
_URL_PASSWORD_RE = re.compile(r"(?i)(\w+://[^:/@\s]+:)[^@\s]+(@)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _QUERY_RE.sub(rf"\1{REDACTED}", text)
    text = _HEADER_RE.sub(rf"\1{REDACTED}", text)
    return _URL_PASSWORD_RE.sub(rf"\1{REDACTED}\2", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (args merged) and exception text, redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, redacted; the handler then prints this text only.
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info), self.secrets
            )
            record.exc_info = None
        for name, value in list(record.__dict__.items()):
            if name not in _STD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value, self.secrets))
        return True


_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STD_ATTRS and not name.startswith("_"):
                out[name] = value
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> RedactingFilter:
    """Install one redacting JSON handler on the root logger (replacing earlier ones we made)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_marketsvc", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler._marketsvc = True  # type: ignore[attr-defined]
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keep it (redacted) only at DEBUG.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
    return redactor
