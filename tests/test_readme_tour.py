"""The README's "A curl tour" is a test: every command in its code block, run as written by
bash against a real ``marketsvc serve --sandbox`` process, answers as a user would expect.

Only the address changes (``localhost:8000`` becomes the server's spare port). ``curl`` is
wrapped by a shell function that keeps each call's status, content type and body for the
assertions and still prints the body, so pipes like ``| head`` see what a user sees.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._services import MarketsvcProcess, base_env, free_port

README = Path(__file__).resolve().parents[1] / "README.md"
ADMIN_TOKEN = "readme-tour-admin-token"

# Runs before each README line: `curl` records what it got, then prints the body.
CURL_RECORDER = r"""
curl() {
  local n=$(( $(cat "$TOUR_DIR/count") + 1 ))
  echo "$n" > "$TOUR_DIR/count"
  printf '%s ' "$@" > "$TOUR_DIR/$n.args"
  command curl --max-time 30 -o "$TOUR_DIR/$n.body" \
    -w '%{http_code} %{content_type}' "$@" > "$TOUR_DIR/$n.meta"
  local rc=$?
  echo "$rc" > "$TOUR_DIR/$n.rc"
  cat "$TOUR_DIR/$n.body"
  return "$rc"
}
"""


def tour_commands(readme: str) -> list[str]:
    """The logical command lines of the fenced block under "## A curl tour": backslash
    continuations joined, blank and comment-only lines dropped."""
    section = readme.split("## A curl tour", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no ```sh block under '## A curl tour'"
    joined = re.sub(r"\\\n\s*", " ", block.group(1))
    return [ln for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


@dataclass(frozen=True, slots=True)
class Call:
    args: str
    status: int
    content_type: str
    exit_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def run_line(
    line: str, root: str, workdir: Path
) -> tuple[subprocess.CompletedProcess[str], list[Call]]:
    calls_dir = workdir / "calls"
    shutil.rmtree(calls_dir, ignore_errors=True)
    calls_dir.mkdir()
    (calls_dir / "count").write_text("0")
    script = CURL_RECORDER + line.replace("localhost:8000", root) + "\n"
    env = {**base_env(), "TOUR_DIR": str(calls_dir), "ADMIN_TOKEN": ADMIN_TOKEN}
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls = []
    for n in range(1, int((calls_dir / "count").read_text()) + 1):
        status, _, content_type = (calls_dir / f"{n}.meta").read_text().partition(" ")
        calls.append(
            Call(
                args=(calls_dir / f"{n}.args").read_text(),
                status=int(status),
                content_type=content_type,
                exit_code=int((calls_dir / f"{n}.rc").read_text()),
                body=(calls_dir / f"{n}.body").read_bytes(),
            )
        )
    return done, calls


def sources_without_sandbox(value: Any, path: str = "$") -> list[str]:
    """Every object that names a ``source`` but does not say ``sandbox: true``."""
    found = []
    if isinstance(value, dict):
        if "source" in value and value.get("sandbox") is not True:
            found.append(path)
        for key, item in value.items():
            found += sources_without_sandbox(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += sources_without_sandbox(item, f"{path}[{i}]")
    return found


COMMANDS = tour_commands(README.read_text())


def test_the_tour_is_what_the_readme_shows() -> None:
    # A guard against the parser silently dropping lines: every curl of the raw block and
    # every line that starts one is in the parsed commands.
    raw = README.read_text().split("## A curl tour", 1)[1].split("```sh\n", 1)[1]
    raw = raw.split("```", 1)[0]
    starts = [ln for ln in raw.splitlines() if ln.startswith("curl ")]
    assert len(COMMANDS) == len(starts) >= 19
    assert sum(line.count("curl -s") for line in COMMANDS) == raw.count("curl -s") >= 22
    assert all("localhost:8000" in line for line in COMMANDS)


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``marketsvc serve --sandbox`` as the README's user runs it, admin token set."""
    workdir = tmp_path_factory.mktemp("tour")
    port = free_port()
    root = f"127.0.0.1:{port}"
    proc = MarketsvcProcess(
        ["serve", "--sandbox", "--host", "127.0.0.1", "--port", str(port)],
        {"ADMIN_TOKEN": ADMIN_TOKEN},
        workdir,
        "serve",
    )
    proc.start(f"http://{root}/readyz")
    try:
        yield root
    finally:
        proc.stop()
    assert ADMIN_TOKEN not in proc.output()


@pytest.mark.parametrize("line", COMMANDS, ids=[f"line{i + 1}" for i in range(len(COMMANDS))])
def test_tour_command(line: str, sandbox_server: str, tmp_path: Path) -> None:
    done, calls = run_line(line, sandbox_server, tmp_path)
    assert done.returncode == 0, (line, done.stderr)
    assert done.stdout.strip(), f"no output from {line!r}"
    assert len(calls) == line.count("curl -s")
    for call in calls:
        assert call.exit_code == 0, call
        if "NOPE123" in call.args:
            assert call.status == 404, call
            assert call.content_type.startswith("application/problem+json"), call
            problem = call.json()
            assert problem["status"] == 404 and problem["title"] and problem["type"], problem
            continue
        assert 200 <= call.status < 300, call
        # /openapi.json describes answers (its schemas name `source`); it is not one.
        if call.content_type.startswith("application/json") and "openapi" not in call.args:
            answer = call.json()
            assert not sources_without_sandbox(answer), (call.args, answer)
            if re.search(r"/api/market/(health|stats)\b", call.args):
                assert answer["sandbox"] is True, call.args  # contract §6
