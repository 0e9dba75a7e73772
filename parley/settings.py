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


QUERY_LIMIT_CALLERS = ("anonymous", "user", "bot", "partner")
QUERY_LIMIT_NAMES = (
    "max_depth", "max_aliases", "max_tokens", "max_root_fields", "max_mutations", "max_directives", "max_cost",
    "cost_budget_per_hour",
)


class Introspection(StrEnum):
    everyone = "true"
    users = "users"
    nobody = "false"


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
    graphiql: bool | None = Field(
        None, description="Serve the GraphiQL explorer on GET /graphql for browsers; default: unless introspection is off"
    )
    introspection: Introspection | None = Field(
        None,
        description="Who may introspect the schema and get field suggestions: true (everyone), users (signed-in "
        "users, not anonymous, bot or partner callers) or false; default: true, users in production",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (JSON list, or [\"*\"]) whose pages may call /graphql with bearer tokens (CORS); "
        "the dashboard origins are always allowed",
    )
    max_batch_operations: int = Field(0, description="Operations allowed in one JSON-array batch; 0 = batching off")
    get_cache_max_age: int = Field(
        60, description="Seconds anonymous GET query results may be cached (Cache-Control: public)"
    )
    apq_ttl_seconds: int = Field(7 * 24 * 3600, description="How long an automatic persisted query is remembered")
    apq_max_entries: int = Field(10_000, description="Most automatic persisted queries remembered at once")
    apq_max_document_bytes: int = Field(50_000, description="Largest document remembered as a persisted query")
    rate_limit_anonymous_per_minute: int = Field(
        300, description="Requests a minute per IP without credentials (bursts up to the same number); 0 = off"
    )
    rate_limit_authenticated_per_minute: int = Field(
        1200, description="Requests a minute per user or token; 0 = off"
    )
    rate_limit_ip_per_minute: int = Field(
        3000, description="Requests a minute per IP whatever the credentials (a ceiling); 0 = off"
    )
    query_max_depth: int = Field(12, description="Deepest field nesting of a query")
    query_max_aliases: int = Field(30, description="Most aliases in a document (counted through fragments)")
    query_max_tokens: int = Field(5000, description="Most lexical tokens in a document")
    query_max_root_fields: int = Field(20, description="Most root fields in an operation")
    query_max_mutations: int = Field(5, description="Most mutation fields in one request (sign-in and the like: one)")
    query_max_directives: int = Field(50, description="Most directives in a document")
    query_max_cost: int = Field(50_000, description="Highest cost of one query (objects it may return)")
    query_cost_budget_per_hour: int = Field(500_000, description="Query cost a user or token may spend an hour")
    query_cost_window_seconds: int = Field(3600, description="Length of the cost budget's window (an hour)")
    query_limits_by_caller: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {
            "anonymous": {"max_cost": 5_000, "cost_budget_per_hour": 100_000},
            "partner": {"cost_budget_per_hour": 200_000},
        },
        description="Overrides of the query limits per caller (anonymous, user, bot, partner) as JSON, e.g. "
        '{"partner": {"max_depth": 8, "max_cost": 5000}}',
    )
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

    @field_validator("introspection", mode="before")
    @classmethod
    def _read_introspection(cls, value: object) -> object:
        aliases = {"1": "true", "yes": "true", "on": "true", "all": "true", "everyone": "true",
                   "0": "false", "no": "false", "off": "false", "none": "false", "nobody": "false"}
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return aliases.get(value.strip().lower(), value.strip().lower())
        return value

    @field_validator("query_limits_by_caller")
    @classmethod
    def _check_limits_by_caller(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for caller, limits in value.items():
            if caller not in QUERY_LIMIT_CALLERS:
                raise ValueError(f"unknown caller {caller!r}: use {', '.join(QUERY_LIMIT_CALLERS)}")
            unknown = set(limits) - set(QUERY_LIMIT_NAMES)
            if unknown:
                raise ValueError(f"unknown limit(s) {', '.join(sorted(unknown))}: use {', '.join(QUERY_LIMIT_NAMES)}")
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
    def introspection_policy(self) -> Introspection:
        if self.introspection is not None:
            return self.introspection
        return Introspection.users if self.env == Environment.production else Introspection.everyone

    def query_limits(self, caller: str) -> dict[str, int]:
        """The query limits of a kind of caller: the defaults with its overrides."""
        limits = {
            "max_depth": self.query_max_depth, "max_aliases": self.query_max_aliases,
            "max_tokens": self.query_max_tokens, "max_root_fields": self.query_max_root_fields,
            "max_mutations": self.query_max_mutations, "max_directives": self.query_max_directives,
            "max_cost": self.query_max_cost, "cost_budget_per_hour": self.query_cost_budget_per_hour,
        }
        limits.update(self.query_limits_by_caller.get(caller, {}))
        return limits

    @property
    def graphiql_enabled(self) -> bool:
        return self.introspection_policy != Introspection.nobody if self.graphiql is None else self.graphiql

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
