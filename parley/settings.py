"""Parley's one settings object, read from `PARLEY_*` environment variables (and `.env`).

Nothing set means the embedded default: SQLite under ./var, in-memory broadcast, an
in-process job worker, local-disk files and emails written to the log.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "insecure-development-key-change-me-0123456789"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ConfigurationError(Exception):
    """A setting that Parley cannot run with; its message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARLEY_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Environment = Field(Environment.development, description="development, test or production")
    debug: bool = Field(False, description="Verbose errors in logs; refused in production")
    secret_key: str = Field(
        DEFAULT_SECRET_KEY,
        description="Signs tokens and URLs; at least 32 characters; must be changed in production",
    )
    database_url: str = Field(
        "",
        validation_alias=AliasChoices("PARLEY_DATABASE_URL", "DATABASE_URL"),
        description="postgresql+asyncpg://… or sqlite+aiosqlite:///…; empty = SQLite under data_dir",
    )
    database_pool_size: int = Field(10, description="Connections kept per process (PostgreSQL)")
    database_max_overflow: int = Field(10, description="Extra connections under load (PostgreSQL)")
    redis_url: str = Field(
        "",
        validation_alias=AliasChoices("PARLEY_REDIS_URL", "REDIS_URL"),
        description="redis://host:port/db; empty = in-memory broadcast and in-process jobs",
    )
    data_dir: Path = Field(Path("var"), description="Where the embedded default keeps its files")
    host: str = Field("127.0.0.1", description="Address `parley serve` binds")
    port: int = Field(8000, description="Port `parley serve` binds")
    public_url: str = Field("", description="The URL clients reach Parley at; default http://host:port")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: str = Field("json", description="json (one object per line) or console")
    graphiql: bool = Field(True, description="Serve the GraphiQL explorer on GET /graphql for browsers")
    introspection: bool = Field(True, description="Allow schema introspection")
    legacy_graphql_ws: bool = Field(
        False, description="Also accept the legacy graphql-ws subprotocol (off: it has had auth bypasses)"
    )
    max_body_bytes: int = Field(1_000_000, description="Largest HTTP request body accepted on /graphql")
    broadcast_queue_size: int = Field(
        1000, description="Events buffered per subscriber before it is closed as too slow"
    )
    worker_in_process: bool | None = Field(
        None, description="Run jobs in a thread of the API process; default: yes without Redis"
    )
    worker_threads: int = Field(4, description="Job threads per worker process")
    dramatiq_namespace: str = Field("parley", description="Key prefix of the Dramatiq queues in Redis")
    signup_enabled: bool = Field(True, description="Let anyone create an account with accountCreate")
    cookie_secure: bool | None = Field(
        None, description="Mark session cookies Secure (HTTPS only); default: on in production"
    )
    dashboard_origins: list[str] = Field(
        default_factory=list,
        description="Origins (besides Parley's own) whose pages may use the session cookies, JSON list",
    )
    diagnostics_enabled: bool | None = Field(
        None, description="Expose diagnosticsPing/diagnosticsPings; default: on outside production"
    )
    smtp_host: str = Field("", description="SMTP server for outgoing email; empty = emails are written to the log")
    smtp_port: int = Field(587, description="SMTP port")
    smtp_username: str = Field("", description="SMTP user name")
    smtp_password: str = Field("", description="SMTP password")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS when offered")
    smtp_tls: bool = Field(False, description="Connect to SMTP over TLS (port 465 style)")
    mail_from: str = Field("Parley <no-reply@parley.invalid>", description="Sender of Parley's emails")

    @field_validator("database_url")
    @classmethod
    def _check_database_scheme(cls, value: str) -> str:
        if not value:
            return value
        scheme = urlsplit(value).scheme
        if scheme in ("postgres", "postgresql"):
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which we do not ship.
            return "postgresql+asyncpg" + value[len(scheme) :]
        if scheme in ("sqlite",):
            return "sqlite+aiosqlite" + value[len(scheme) :]
        if scheme not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError(
                f"unsupported database scheme {scheme!r}: use postgresql+asyncpg:// or sqlite+aiosqlite://"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("unsupported Redis URL: use redis://, rediss:// or unix://")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'parley.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    @property
    def run_worker_in_process(self) -> bool:
        return (not self.uses_redis) if self.worker_in_process is None else self.worker_in_process

    @property
    def cookies_secure(self) -> bool:
        return self.env == Environment.production if self.cookie_secure is None else self.cookie_secure

    @property
    def diagnostics(self) -> bool:
        return self.env != Environment.production if self.diagnostics_enabled is None else self.diagnostics_enabled

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    def check_production(self) -> None:
        """Refuse to start production with settings that would make it unsafe."""
        if self.env != Environment.production:
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("PARLEY_SECRET_KEY must be set to a random value of at least 32 characters")
        if self.debug:
            problems.append("PARLEY_DEBUG must be off")
        if not self.database_url.startswith("postgresql"):
            problems.append("PARLEY_DATABASE_URL must point at PostgreSQL")
        if not self.uses_redis:
            problems.append("PARLEY_REDIS_URL must be set")
        if problems:
            raise ConfigurationError("insecure production configuration: " + "; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value becomes a one-line ConfigurationError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = "PARLEY_" + "_".join(str(p) for p in err["loc"]).upper()
            parts.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid configuration: " + "; ".join(parts)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
