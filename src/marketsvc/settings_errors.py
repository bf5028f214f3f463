"""Settings errors worded for an operator: one line per wrong variable, never a secret.

pydantic's own text is written for programmers (field names in lower case, error-type codes, a
link per error) and would echo every value; these lines name the environment variable, show
its value only when that is safe, and say what to set instead.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from marketsvc.config import DEFAULT_RATE_LIMITS, Settings
from marketsvc.logs import REDACTED, redact

_SECONDS_SUFFIXES = ("_interval", "_timeout", "_delay", "_ttl", "_break", "_margin")
_URL_SUFFIXES = ("_url",)
_USERINFO_RE = re.compile(r"(//)[^/@\s]*@")
_MAX_SHOWN = 80


def _is_secret(field: str) -> bool:
    info = Settings.model_fields.get(field)
    if info is None:
        return True  # not ours to judge: do not show it
    annotation = info.annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def safe_url(url: str) -> str:
    """``url`` without its user-info (user and password) or secret query parameters."""
    return redact(_USERINFO_RE.sub(rf"\1{REDACTED}@", url))


def shown(field: str, value: Any) -> str:
    """``VAR='value'`` as it may be printed: secrets never, URLs without their user-info."""
    var = field.upper()
    if _is_secret(field):
        return f"{var} (value not shown)"
    text = str(value)
    if field.endswith(_URL_SUFFIXES):
        text = safe_url(text)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return f"{var}={text!r}"


def _example(field: str) -> str:
    var = field.upper()
    if field.endswith("_rate_limits"):
        return f"; set e.g. {var}={DEFAULT_RATE_LIMITS[field.removesuffix('_rate_limits')]}"
    default = Settings.model_fields[field].default
    if isinstance(default, bool) or default is None:
        return ""
    if isinstance(default, float):
        return f"; set e.g. {var}={default:g}"
    return f"; set e.g. {var}={default}"


def _problem(field: str, error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    unit = " of seconds" if field.endswith(_SECONDS_SUFFIXES) else ""
    var = field.upper()
    if kind == "value_error" and "error" in ctx:
        # Our validators word these to follow "VAR='value' ".
        example = _example(field) if field.endswith("_rate_limits") else ""
        return f"{ctx['error']}{example}"
    if kind.startswith("float_"):
        return f"is not a number{unit}{_example(field)}"
    if kind.startswith("int_"):
        return f"is not a whole number{unit}{_example(field)}"
    if kind.startswith("bool_"):
        return f"is not true or false; set {var}=true or {var}=false"
    bounds = {
        "greater_than": ("must be greater than", "gt"),
        "greater_than_equal": ("must be at least", "ge"),
        "less_than": ("must be less than", "lt"),
        "less_than_equal": ("must be at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {ctx.get(key)}{_example(field)}"
    message = str(error.get("msg", "is invalid"))
    return f"is invalid ({message[:1].lower()}{message[1:]}); see .env.example"


def validation_lines(exc: ValidationError) -> list[str]:
    """One line per wrong variable (a union field may report several errors: keep the first)."""
    lines: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = error.get("loc") or ("?",)
        field = str(loc[0])
        if field not in lines:
            lines[field] = f"{shown(field, error.get('input'))} {_problem(field, error)}"
    return list(lines.values())


_SOURCE_FIELD_RE = re.compile(r'field "([^"]+)"')


def settings_error_lines(exc: Exception, secrets: Iterable[str] = ()) -> list[str]:
    """Lines (without the ``marketsvc:`` prefix) for whatever ``Settings()`` raised."""
    if isinstance(exc, ValidationError):
        return validation_lines(exc)
    if isinstance(exc, SettingsError):
        # pydantic-settings could not even decode a value (e.g. JSON for a complex field).
        match = _SOURCE_FIELD_RE.search(str(exc))
        var = match.group(1).upper() if match else "a setting"
        return [
            f"{var} could not be read ({type(exc.__cause__ or exc).__name__}); see .env.example"
        ]
    return [f"the settings could not be read: {redact(f'{type(exc).__name__}: {exc}', secrets)}"]
