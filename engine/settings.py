"""Settings from the environment: store location, quotas, timeouts, persistence module."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from domain.errors import ValidationException
from domain.validation import Limits


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    max_pipelines: int = 300
    max_concurrent_executions: int = 50
    # What happens to running actions when an update or delete cancels their execution:
    # "abandon" marks them Abandoned at once; "complete" lets their results be recorded.
    cancelled_actions: str = "abandon"
    sqlite_lock_timeout: int = 20
    workers: int = 8
    # "native" uses eventsourcing's own sqlite/postgres modules (2-3x faster when it was
    # measured); "sqlalchemy" uses eventsourcing-sqlalchemy on the same URL.
    persistence: str = "native"
    # History older than this is dropped from the history view (never from the event log).
    history_retention_months: int = 12
    # A worker's claim on a job lasts this long unless renewed (it renews every third of it);
    # a lapsed lease means a lost worker, and after this many losses the action fails.
    lease_seconds: float = 30.0
    max_worker_losses: int = 2

    @property
    def database_path(self) -> Path:
        return self.home / "conveyor.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def buckets_dir(self) -> Path:
        return Path(os.environ.get("CONVEYOR_BUCKETS", str(self.home / "buckets")))

    @property
    def workspace_root(self) -> Path:
        return self.home.parent

    def sqlalchemy_url(self) -> str:
        """The same database as a SQLAlchemy URL (views live beside the events)."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.database_path}?timeout={self.sqlite_lock_timeout}"

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing environment for this store."""
        if self.persistence == "sqlalchemy":
            return {
                "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
                "SQLALCHEMY_URL": self.sqlalchemy_url(),
            }
        if not self.database_url:
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.database_path),
                "SQLITE_LOCK_TIMEOUT": str(self.sqlite_lock_timeout),
            }
        parsed = urlparse(self.database_url)
        if parsed.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ValidationException(
                f"CONVEYOR_DATABASE_URL: unsupported scheme '{parsed.scheme}'; use "
                "postgresql://user@host:port/dbname (or leave it unset for SQLite)"
            )
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_LOCK_TIMEOUT": "20",
        }


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationException(f"{name}: '{raw}' is not a whole number") from None


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationException(f"{name}: '{raw}' is not a number of seconds") from None
    if not value > 0:
        raise ValidationException(f"{name}: {raw} must be more than 0 seconds")
    return value


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    home = Path(env["CONVEYOR_HOME"]) if env.get("CONVEYOR_HOME") else cwd / ".conveyor"
    max_stages = _int(env, "CONVEYOR_MAX_STAGES", 10)
    if not 2 <= max_stages <= 50:
        raise ValidationException(f"CONVEYOR_MAX_STAGES: {max_stages} is outside 2..50")
    cancelled = env.get("CONVEYOR_CANCELLED_ACTIONS", "abandon")
    if cancelled not in ("abandon", "complete"):
        raise ValidationException("CONVEYOR_CANCELLED_ACTIONS: use 'abandon' or 'complete'")
    persistence = env.get("CONVEYOR_PERSISTENCE", "native")
    if persistence not in ("native", "sqlalchemy"):
        raise ValidationException("CONVEYOR_PERSISTENCE: use 'native' or 'sqlalchemy'")
    return Settings(
        home=home.resolve(),
        database_url=env.get("CONVEYOR_DATABASE_URL") or None,
        limits=Limits(max_stages=max_stages),
        max_pipelines=_int(env, "CONVEYOR_MAX_PIPELINES", 300),
        max_concurrent_executions=_int(env, "CONVEYOR_MAX_CONCURRENT_EXECUTIONS", 50),
        cancelled_actions=cancelled,
        workers=_int(env, "CONVEYOR_WORKERS", 8),
        persistence=persistence,
        history_retention_months=_int(env, "CONVEYOR_HISTORY_RETENTION_MONTHS", 12),
        lease_seconds=_positive_float(env, "CONVEYOR_LEASE_SECONDS", 30.0),
        max_worker_losses=max(1, _int(env, "CONVEYOR_MAX_WORKER_LOSSES", 2)),
    )
