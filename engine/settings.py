"""Settings from the environment: store location, quotas, timeouts, persistence, region."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from domain.errors import ValidationException
from domain.validation import Limits
from engine.clock import parse_instant

# The store's directory, found as git finds `.git`: here or in the nearest directory above.
HOME_DIR = ".conveyor"
# Seconds to wait for PostgreSQL to accept a connection before saying why it did not.
CONNECT_TIMEOUT_SECONDS = 5
# The region and account a pipeline's ARN names (arn:aws:codepipeline:REGION:ACCOUNT:NAME), and
# the only region an action may name. LocalStack's defaults: a local account, AWS's first region.
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_ACCOUNT = re.compile(r"[0-9]{12}")


@dataclass(frozen=True)
class PostgresTarget:
    """Where a PostgreSQL store lives, parsed from CONVEYOR_DATABASE_URL."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)

    def describe(self) -> str:
        """The database as a person names it; never the password."""
        return f"database '{self.dbname}' on {self.host}:{self.port} as user '{self.user}'"


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
    # CONVEYOR_REGION and CONVEYOR_ACCOUNT: what ARNs name, as AWS's would.
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

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
            if "connect_timeout=" not in url:
                url += ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT_SECONDS}"
            return url
        return f"sqlite:///{self.database_path}?timeout={self.sqlite_lock_timeout}"

    def store_label(self) -> str:
        """Where the events are, to show a person: the database URL without its password."""
        target = self.postgres_target()
        if target is None:
            return str(self.database_path)
        return f"postgresql://{target.user}@{target.host}:{target.port}/{target.dbname}"

    def postgres_target(self) -> PostgresTarget | None:
        """The PostgreSQL database of CONVEYOR_DATABASE_URL, or None for the SQLite file."""
        if not self.database_url:
            return None
        try:
            parsed = urlparse(self.database_url)
        except ValueError as error:  # an unclosed IPv6 host: `[::1`
            raise ValidationException(
                f"CONVEYOR_DATABASE_URL: not a URL ({error}); use postgresql://user@host:port/dbname"
            ) from None
        if parsed.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ValidationException(
                f"CONVEYOR_DATABASE_URL: unsupported scheme '{parsed.scheme}'; use "
                "postgresql://user@host:port/dbname (or leave it unset for SQLite)"
            )
        try:
            port = parsed.port or 5432
        except ValueError:
            raise ValidationException(
                "CONVEYOR_DATABASE_URL: the port is not a number from 0 to 65535"
            ) from None
        return PostgresTarget(
            host=parsed.hostname or "127.0.0.1",
            port=port,
            dbname=parsed.path.lstrip("/") or "postgres",
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
        )

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
        target = self.postgres_target()
        assert target is not None
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": target.dbname,
            "POSTGRES_HOST": target.host,
            "POSTGRES_PORT": str(target.port),
            "POSTGRES_USER": target.user,
            "POSTGRES_PASSWORD": target.password,
            # One connection kept per process, more opened only while threads need them: a
            # command needs one, and every process holding four exhausted the server's
            # max_connections (100 by default) when a few dozen commands ran at once.
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_LOCK_TIMEOUT": "20",
            # How long a command waits for a pooled connection (eventsourcing's default is 30 s).
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
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


def _matching(
    env: Mapping[str, str], name: str, default: str, form: re.Pattern[str], shape: str
) -> str:
    raw = env.get(name) or default
    if not form.fullmatch(raw):
        raise ValidationException(f"{name}: '{raw}' is not {shape}")
    return raw


def _check_instant(env: Mapping[str, str], name: str) -> None:
    raw = env.get(name)
    if not raw:
        return
    try:
        parse_instant(raw)
    except ValueError:
        raise ValidationException(
            f"{name}: '{raw}' is not an ISO 8601 instant (for example 2026-11-20T14:00:00Z)"
        ) from None


def find_home(cwd: Path, env: Mapping[str, str]) -> Path | None:
    """The store a command uses: CONVEYOR_HOME when set (whether or not it exists), else the
    nearest `.conveyor/` in `cwd` or a directory above it, as git finds `.git`; else None."""
    explicit = env.get("CONVEYOR_HOME")
    if explicit:
        return cwd / explicit
    for directory in (cwd, *cwd.parents):
        candidate = directory / HOME_DIR
        if candidate.is_dir():
            return candidate
    return None


def init_home(cwd: Path, env: Mapping[str, str]) -> Path:
    """Where `conveyor init` puts a store: CONVEYOR_HOME, else `.conveyor/` in `cwd`."""
    explicit = env.get("CONVEYOR_HOME")
    return cwd / explicit if explicit else cwd / HOME_DIR


def load_settings(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, *, for_init: bool = False
) -> Settings:
    """Settings for a command. Without a store found, `home` is where `init` would create one
    (the composition root refuses to open it until it exists)."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    home = (None if for_init else find_home(cwd, env)) or init_home(cwd, env)
    max_stages = _int(env, "CONVEYOR_MAX_STAGES", 10)
    if not 2 <= max_stages <= 50:
        raise ValidationException(f"CONVEYOR_MAX_STAGES: {max_stages} is outside 2..50")
    cancelled = env.get("CONVEYOR_CANCELLED_ACTIONS", "abandon")
    if cancelled not in ("abandon", "complete"):
        raise ValidationException("CONVEYOR_CANCELLED_ACTIONS: use 'abandon' or 'complete'")
    persistence = env.get("CONVEYOR_PERSISTENCE", "native")
    if persistence not in ("native", "sqlalchemy"):
        raise ValidationException("CONVEYOR_PERSISTENCE: use 'native' or 'sqlalchemy'")
    _check_instant(env, "CONVEYOR_NOW")
    region = _matching(env, "CONVEYOR_REGION", DEFAULT_REGION, _REGION, "a region like us-east-1")
    account = _matching(env, "CONVEYOR_ACCOUNT", DEFAULT_ACCOUNT, _ACCOUNT, "12 digits")
    settings = Settings(
        home=home.resolve(),
        database_url=env.get("CONVEYOR_DATABASE_URL") or None,
        limits=Limits(max_stages=max_stages, region=region),
        max_pipelines=_int(env, "CONVEYOR_MAX_PIPELINES", 300),
        max_concurrent_executions=_int(env, "CONVEYOR_MAX_CONCURRENT_EXECUTIONS", 50),
        cancelled_actions=cancelled,
        workers=_int(env, "CONVEYOR_WORKERS", 8),
        persistence=persistence,
        history_retention_months=_int(env, "CONVEYOR_HISTORY_RETENTION_MONTHS", 12),
        lease_seconds=_positive_float(env, "CONVEYOR_LEASE_SECONDS", 30.0),
        max_worker_losses=max(1, _int(env, "CONVEYOR_MAX_WORKER_LOSSES", 2)),
        region=region,
        account=account,
    )
    settings.postgres_target()  # a malformed CONVEYOR_DATABASE_URL is refused by every command
    return settings
