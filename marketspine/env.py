"""Strict readers for environment variables, and the development env file.

A bad value is an error at start-up, naming the variable, rather than a surprise at 3 a.m. when
the first retry is computed. ``manage.py`` and ``marketspine.wsgi`` print it as one line (see
:func:`configuration_error_line`), not as a traceback.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
import dotenv
from django.core.exceptions import ImproperlyConfigured

#: Names the development env file ``manage.py`` reads; empty reads none. Default: ``.env`` at
#: the project root, which ``make run`` writes when it is missing.
ENV_FILE_VARIABLE = "MARKETSPINE_ENV_FILE"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


_RATE_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A request rate such as ``600/min``: (requests, seconds), or None for ``off``."""
    raw = env_str(name, default).strip().lower()
    if raw in {"off", "none", "0"}:
        return None
    count, _, period = raw.partition("/")
    seconds = _RATE_PERIODS.get(period.strip())
    if not count.strip().isdigit() or int(count) < 1 or seconds is None:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a rate: use N/s, N/min, N/hour or N/day (N >= 1), or off"
        )
    return int(count), seconds


def cache_config(url: str) -> dict[str, Any]:
    """CACHES["default"] from a URL: ``redis://...`` (shared by every process) or ``locmem://``
    (empty too: per process)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "marketspine",
        }
    if url in {"", "locmem://"}:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    raise ImproperlyConfigured(
        f"CACHE_URL={url!r} must be redis://host:port/db or locmem:// (per process)"
    )


def database_url(value: str) -> str:
    """A database URL from a URL or an SQLite file path (``--db /data/market_spine.db``)."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def database_config(url: str) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for a database URL, with the SQLite and PostgreSQL
    options Market Spine relies on (read from the environment like the rest)."""
    try:
        database = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except Exception as exc:  # dj-database-url raises several types for a malformed URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside one writer; IMMEDIATE transactions take the write lock at
        # BEGIN, so two worker processes claiming work queue items serialize instead of failing
        # with "database is locked" half-way through a read-then-write transaction.
        database["OPTIONS"] = {
            "timeout": env_float("SQLITE_BUSY_TIMEOUT_SECONDS", 30.0, minimum=0),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        database["CONN_MAX_AGE"] = 0
        database["CONN_HEALTH_CHECKS"] = False
        if database["NAME"] and database["NAME"] != ":memory:":
            folder = Path(database["NAME"]).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"database {database['NAME']}: cannot create its folder {folder}: "
                    f"{exc.strerror}"
                ) from None
    elif database["ENGINE"] == "django.db.backends.postgresql":
        database["CONN_HEALTH_CHECKS"] = True
        # Server-side binding sends the parameters apart from the SQL text, so the statements a
        # process runs again and again (token lookups, claims, enqueue inserts) keep one text.
        # Django leaves psycopg's prepared statements off (they break transaction-mode
        # connection poolers), so each is still planned per execution.
        database.setdefault("OPTIONS", {})["server_side_binding"] = env_bool(
            "DB_SERVER_SIDE_BINDING", True
        )
        database.setdefault("TEST", {})["NAME"] = env_str("TEST_DATABASE_NAME", "test_marketspine")
    return database


def configuration_error_line(program: str, error: Exception) -> str:
    """One line for stderr: what a cron mail or a pod's log shows of a start-up error."""
    message = " ".join(str(error).split())
    return f"{program}: configuration error: {message}\n"


def env_file_path(project_dir: Path) -> Path | None:
    """The development env file to read: ``MARKETSPINE_ENV_FILE``, else ``<project>/.env``;
    ``None`` when the variable is set empty (production and tests say "no file")."""
    raw = os.environ.get(ENV_FILE_VARIABLE)
    if raw is None:
        return project_dir / ".env"
    if not raw.strip():
        return None
    return Path(raw).expanduser()


def load_env_file(project_dir: Path) -> Path | None:
    """Sets the variables of the development env file that the environment does not set.

    The environment always wins, variable by variable, so a host that sets its configuration
    (production, CI, a cron job) is never changed by a stray file; without the file nothing
    happens. A file named by ``MARKETSPINE_ENV_FILE`` must exist. Values are taken literally:
    no ``${VAR}`` expansion, so a secret may hold any character.
    """
    path = env_file_path(project_dir)
    if path is None:
        return None
    if not path.is_file():
        if os.environ.get(ENV_FILE_VARIABLE):
            raise ImproperlyConfigured(f"{ENV_FILE_VARIABLE}={str(path)!r} is not a file")
        return None
    dotenv.load_dotenv(path, override=False, interpolate=False)
    return path


def write_development_env_file(path: Path) -> bool:
    """Writes ``DEBUG=true`` and a fresh ``SECRET_KEY`` to ``path`` unless it exists.

    For a laptop: ``manage.py`` then works without any variable set. The file is created
    readable by its owner only, and never rewritten, so edits to it stay and sessions signed
    with its key stay valid. Returns whether it wrote the file.
    """
    content = (
        "# Written by `make run` for local development; manage.py reads it and a variable set\n"
        "# in the environment wins. Never copy it to a server.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
    return True
