"""deploy/: the Prometheus alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``: the same conditions as the in-process evaluator fire), and every
metric the rules and the Grafana dashboard query is one that /metrics exposes.

promtool (Debian's ``prometheus`` package) is REQUIRED: .ci/run installs it when missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from marketsvc.app import create_app
from marketsvc.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
GRAFANA = DEPLOY / "grafana" / "marketsvc.json"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is required: apt-get install -y prometheus (.ci/run does this)")
    return found


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    check = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "7 rules found" in check.stdout
    tested = subprocess.run(
        [promtool(), "test", "rules", str(RULES.with_name("alerts_test.yml"))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def metric_names(text: str) -> set[str]:
    return set(re.findall(r"\b(marketsvc_[a-z0-9_]+?)(?:_bucket|_count|_sum)?\b", text))


async def test_rules_and_grafana_query_only_exposed_metrics(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        sandbox=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
        job_crypto_prices_interval=3600,
        log_level="WARNING",
    )
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        (await c.get("/api/market/price/BTC")).raise_for_status()
        exposed = (await c.get("/metrics")).text
    families = set(re.findall(r"^# TYPE (\S+) ", exposed, flags=re.M))
    # A counter family "x" is exposed as x_total; histograms as x_bucket/_count/_sum.
    names = families | {f"{f}_total" for f in families}
    assert "marketsvc_job_last_tick_timestamp_seconds" in families
    assert 'marketsvc_quota_usable{provider="coingecko",window="30/minute"}' in exposed
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    for source in [RULES.read_text(), *exprs]:
        assert metric_names(source) <= names, metric_names(source) - names
