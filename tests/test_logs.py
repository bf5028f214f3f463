from __future__ import annotations

import io
import json
import logging
import re

import pytest

from marketsvc.logs import (
    REQUEST_ID,
    JsonFormatter,
    RedactingFilter,
    configure_logging,
    redact,
    redact_query,
    request_id_from,
)


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


def _record(msg: str, **extra: object) -> logging.LogRecord:
    return logging.getLogger("test.fmt").makeRecord(
        "test.fmt", logging.INFO, __file__, 1, msg, (), None, extra=extra
    )


def test_formatter_stamps_the_current_request_id_and_only_while_set() -> None:
    formatter = JsonFormatter()
    token = REQUEST_ID.set("req-42")
    try:
        inside = json.loads(formatter.format(_record("inside", job="x")))
    finally:
        REQUEST_ID.reset(token)
    outside = json.loads(formatter.format(_record("outside")))
    assert inside["request_id"] == "req-42" and inside["job"] == "x"
    assert "request_id" not in outside


def test_formatter_drops_color_message_and_terminal_escapes() -> None:
    # What uvicorn logs at start-up: the plain message plus a coloured copy in ``extra``.
    record = _record(
        "Started server process [\x1b[36m%d\x1b[0m]",
        color_message="Started server process [\x1b[36m%d\x1b[0m]",
        note="bold \x1b[1mword\x1b[0m",
    )
    line = JsonFormatter().format(record)
    out = json.loads(line)
    assert "color_message" not in out
    assert out["msg"] == "Started server process [%d]" and out["note"] == "bold word"
    assert "\x1b" not in line and "\\u001b" not in line


def test_a_sane_client_request_id_is_kept() -> None:
    for value in ("test-123", "A.b_c-9", "x" * 128):
        assert request_id_from([(b"host", b"h"), (b"x-request-id", value.encode())]) == value


@pytest.mark.parametrize(
    "hostile",
    [
        b"abc\ndef",
        b"id\r\nX-Evil: 1",
        b"x" * 129,
        b"y" * 500,
        b"",
        b"has space",
        b'{"level": "ERROR"}',
        "caf\u00e9".encode(),
    ],
)
def test_a_hostile_client_request_id_is_replaced(hostile: bytes) -> None:
    got = request_id_from([(b"x-request-id", hostile)])
    assert got.encode() != hostile
    assert re.fullmatch(r"[0-9a-f]{16}", got)


def test_request_ids_are_generated_when_missing_and_differ() -> None:
    ids = {request_id_from([(b"host", b"h")]) for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


def test_redact_query_hides_secret_looking_values_only() -> None:
    query = "symbol=IBM&apikey=AAA111&token=BBB222&x_api_key=CCC333&api%5Fkey=DDD444&limit=5&flag"
    out = redact_query(query)
    for secret in ("AAA111", "BBB222", "CCC333", "DDD444"):
        assert secret not in out
    assert out.startswith("symbol=IBM&apikey=***&") and out.endswith("&limit=5&flag")


def test_configure_logging_keeps_apscheduler_chatter_out_of_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    logging.getLogger("apscheduler.executors.default").info('Running job "x" (trigger: 1s)')
    logging.getLogger("apscheduler.scheduler").info("Added job x to job store default")
    logging.getLogger("apscheduler.executors.default").warning("Run time of job x was missed")
    logging.getLogger("marketsvc.test").info("ours")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["logger"], r["msg"]) for r in lines] == [
        ("apscheduler.executors.default", "Run time of job x was missed"),
        ("marketsvc.test", "ours"),
    ]


def test_formatter_writes_values_orjson_refuses() -> None:
    out = json.loads(JsonFormatter().format(_record("big", count=2**70, text="\ud800")))
    assert out["count"] == 2**70 and out["text"] == "\ud800"
