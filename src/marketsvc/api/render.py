"""Rendering an orchestrator ``Envelope`` as an HTTP answer: the data with the provenance
fields (``source``, ``cached``, ``freshness``, ``age_seconds``, ``fetched_at``, ``sandbox``)
and a ``Server-Timing`` header naming the tier that answered. Shared by every route."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import Response

from marketsvc.container import Container
from marketsvc.domain import iso_z
from marketsvc.orchestrator import Envelope


def envelope_body(env: Envelope, sandbox: bool) -> dict[str, Any]:
    body = dict(env.data)
    body.update(
        source=env.source,
        cached=env.cached,
        freshness=env.freshness.value,
        age_seconds=round(env.age_seconds, 3),
        fetched_at=iso_z(env.fetched_at),
    )
    body.update(env.extra)
    if sandbox:
        body["sandbox"] = True
    return body


def envelope_json(env: Envelope, sandbox: bool) -> bytes:
    """The cached JSON object with the envelope fields spliced onto its end: no parse and
    re-serialise of the data on the hot path (the response models still document it)."""
    meta: dict[str, Any] = {
        "source": env.source,
        "cached": env.cached,
        "freshness": env.freshness.value,
        "age_seconds": round(env.age_seconds, 3),
        "fetched_at": iso_z(env.fetched_at),
        **env.extra,
    }
    if sandbox:
        meta["sandbox"] = True
    tail = orjson.dumps(meta)
    data = env.payload.rstrip()
    if data == b"{}" or not data.endswith(b"}"):
        return tail
    return data[:-1] + b"," + tail[1:]


def timing(env: Envelope, t0: float) -> str:
    return f"{env.tier};dur={(time.perf_counter() - t0) * 1000:.3f}"


def answer(container: Container, env: Envelope, t0: float) -> Response:
    body = envelope_json(env, container.settings.sandbox)
    return Response(body, media_type="application/json", headers={"Server-Timing": timing(env, t0)})
