"""Settings errors as the operator reads them: named variables, no secrets, a fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from marketsvc.config import Settings
from marketsvc.settings_errors import safe_url, settings_error_lines, shown


def _lines(**env: str) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, **env)  # type: ignore[arg-type]
    return settings_error_lines(raised.value)


def test_secret_fields_are_never_shown() -> None:
    assert shown("admin_token", "s3cret-token") == "ADMIN_TOKEN (value not shown)"
    assert "s3cret" not in shown("finnhub_api_key", "s3cret-key")


def test_urls_lose_their_userinfo_and_secret_parameters() -> None:
    assert safe_url("postgresql+asyncpg://ops:pw@db:5432/m") == "postgresql+asyncpg://***@db:5432/m"
    assert "pw" not in safe_url("redis://:pw@cache:6379/0")
    assert "k3y" not in safe_url("https://host/api?apikey=k3y")


def test_validation_error_text_hides_the_input() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, database_url="mysql://ops:pw-in-url@db/m")  # type: ignore
    assert "pw-in-url" not in str(raised.value)
    (line,) = settings_error_lines(raised.value)
    assert line.startswith("DATABASE_URL='mysql://***@db/m' names the driver 'mysql'")
    assert "pw-in-url" not in line


@pytest.mark.parametrize(
    ("env", "start", "fix"),
    [
        ({"provider_timeout": "abc"}, "PROVIDER_TIMEOUT='abc' is not a number of seconds", "=10"),
        ({"cache_l1_max_size": "1.5"}, "CACHE_L1_MAX_SIZE='1.5' is not a whole number", "=1000"),
        ({"replica_count": "0"}, "REPLICA_COUNT='0' must be at least 1", "REPLICA_COUNT=1"),
        ({"sandbox": "maybe"}, "SANDBOX='maybe' is not true or false", "SANDBOX=false"),
        ({"tiingo_rate_limits": "5/week"}, "TIINGO_RATE_LIMITS='5/week'", "=50/hour;1000/day"),
        ({"binance_ws_url": "https://x"}, "BINANCE_WS_URL='https://x' is not", "unset it"),
        ({"log_level": "LOUD"}, "LOG_LEVEL='LOUD' is not a log level", "DEBUG, INFO"),
    ],
)
def test_each_error_is_one_line_with_a_fix(env: dict[str, str], start: str, fix: str) -> None:
    (line,) = _lines(**env)
    assert line.startswith(start), line
    assert fix in line, line
    assert "\n" not in line


def test_log_level_is_case_insensitive() -> None:
    settings = Settings(_env_file=None, log_level="debug")  # type: ignore[call-arg]
    assert settings.log_level == "DEBUG"
