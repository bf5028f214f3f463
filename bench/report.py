"""The report: ``report.md`` (the table), ``report.json`` (everything) and ``latency.png``."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.stats import Figure, fmt, verdict

PACKAGES = (
    "marketsvc",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "orjson",
    "redis",
    "sqlalchemy",
    "asyncpg",
    "cachetools",
    "matplotlib",
)


def _cmd(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    redis_info = _cmd(["redis-cli", "-h", "127.0.0.1", "INFO", "server"])
    redis_version = next(
        (ln.split(":", 1)[1] for ln in redis_info.splitlines() if ln.startswith("redis_version")),
        "unknown",
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "packages": versions,
        "postgresql": _cmd(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAt",
                "-c",
                "SHOW server_version",
            ]
        ),
        "redis": redis_version,
        "git_commit": _cmd(["git", "rev-parse", "--short", "HEAD"]),
    }


def _row(f: Figure) -> str:
    target = ""
    if f.target_op and f.target is not None:
        what = "value" if (f.target_on_value or f.baseline is None) else "ratio"
        target = f"{what} {f.target_op} {fmt(f.target)}"
    baseline = f"{fmt(f.baseline)} ({f.baseline_name})" if f.baseline is not None else "—"
    ratio = f"{fmt(f.ratio)}×" if f.ratio is not None else "—"
    cells = [
        f.name,
        f"{fmt(f.value)} {f.unit}",
        baseline,
        ratio,
        target or "—",
        verdict(f.met),
        f.note,
    ]
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def markdown(figures: Sequence[Figure], info: dict[str, Any], notes: Sequence[str]) -> str:
    lines = [
        "# marketsvc benchmark report",
        "",
        f"{info['date']} · {info['cpu']} × {info['cpus']} · {info['platform']}",
        f"Python {info['python']} · PostgreSQL {info['postgresql']} · Redis {info['redis']} · "
        f"commit {info['git_commit']} · mode {info.get('mode', '?')} · 1-min load average "
        f"before/after {info.get('loadavg_before_after', '?')} (2 = both cores busy)",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()),
        "",
        'Ratios are "better than baseline" factors: throughput ÷ baseline throughput, baseline '
        'latency ÷ latency; for "p99 ÷ p50" and "calls vs ideal" it is value ÷ baseline '
        "(lower is better). Reproduce with `make bench` (full) or "
        "`.venv/bin/python -m bench.run --quick`.",
        "",
    ]
    section = None
    met = sum(f.met is True for f in figures)
    missed = [f for f in figures if f.met is False]
    for f in figures:
        if f.section != section:
            section = f.section
            lines += [
                "",
                f"### {section}",
                "",
                "| figure | value | baseline | ratio | target | verdict | note |",
                "|---|---|---|---|---|---|---|",
            ]
        lines.append(_row(f))
    lines += ["", f"**Targets met: {met}; missed: {len(missed)}.**", ""]
    if missed:
        lines += ["Missed: " + "; ".join(f"{f.section} — {f.name}" for f in missed), ""]
    if notes:
        lines += ["## Notes and gaps", "", *(f"- {n}" for n in notes), ""]
    lines += ["![latency per tier and upstream calls over time](latency.png)", ""]
    return "\n".join(lines)


def plot(raw: dict[str, Any], latency: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    order = [t for t in ("bare", "l1", "l2", "l3", "emulator", "miss") if t in latency]
    names = {
        "bare": "bare FastAPI",
        "l1": "L1 memory",
        "l2": "L2 Redis",
        "l3": "L3 PostgreSQL",
        "emulator": "emulator direct",
        "miss": "miss (force_refresh)",
    }
    width = 0.27
    for j, (q, colour) in enumerate(
        (("p50_ms", "#4c72b0"), ("p90_ms", "#dd8452"), ("p99_ms", "#c44e52"))
    ):
        xs = [i + (j - 1) * width for i in range(len(order))]
        left.bar(xs, [latency[t][q] for t in order], width, label=q[:3], color=colour)
    left.set_xticks(range(len(order)), [names[t] for t in order], rotation=20)
    left.set_yscale("log")
    left.set_ylabel("client latency, ms (1 connection, log)")
    left.set_title("Latency percentiles per tier")
    left.legend()
    for label, colour in (("zipf_1", "#4c72b0"), ("zipf_3", "#c44e52")):
        run = raw.get(label)
        if not run:
            continue
        series = run["calls_per_second"]
        cumulative = [sum(series[: i + 1]) for i in range(len(series))]
        right.plot(
            range(len(cumulative)),
            cumulative,
            color=colour,
            label=f"{run['replicas']} replica(s): {run['upstream_calls']} calls",
        )
        right.axhline(
            run["ideal_calls"], color=colour, linestyle=":", label=f"ideal ({run['ideal_calls']})"
        )
    right.set_xlabel("seconds into the Zipf workload")
    right.set_ylabel("upstream calls (cumulative)")
    right.set_title("Upstream calls over time")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(
    out_dir: Path,
    figures: Sequence[Figure],
    raw: dict[str, Any],
    latency: dict[str, dict[str, float]],
    notes: Sequence[str],
    info: dict[str, Any],
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(markdown(figures, info, notes))
    doc = {
        "machine": info,
        "figures": [f.as_dict() for f in figures],
        "raw": raw,
        "latency": latency,
        "notes": list(notes),
    }
    (out_dir / "report.json").write_bytes(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    plot(raw, latency, out_dir / "latency.png")
