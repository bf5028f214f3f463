from __future__ import annotations

import io
import json
import logging

from marketsvc.logs import JsonFormatter, RedactingFilter, redact


def test_redact_query_params_headers_and_known_secrets() -> None:
    text = (
        "GET https://www.alphavantage.co/query?function=GLOBAL_QUOTE&apikey=ABCDEF123&symbol=IBM "
        "headers={'X-Finnhub-Token': 'tok999', 'Authorization': 'Bearer pk_live_1'} "
        "redis://user:hunter2@host:6379 custom SENTINEL-XYZ"
    )
    out = redact(text, ["SENTINEL-XYZ"])
    for secret in ("ABCDEF123", "tok999", "pk_live_1", "hunter2", "SENTINEL-XYZ"):
        assert secret not in out
    assert "symbol=IBM" in out and "function=GLOBAL_QUOTE" in out


def test_filter_redacts_args_extras_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(["KEY-SENTINEL-1"]))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "calling %s", "https://x.test/q?token=KEY-SENTINEL-1", extra={"url": "a?apikey=zzz9"}
        )
        try:
            raise ValueError("boom KEY-SENTINEL-1")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "KEY-SENTINEL-1" not in output and "zzz9" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines[0]["msg"].startswith("calling https://x.test/q?token=***")
    assert "ValueError" in lines[1]["exc"]
