"""Parley's one settings object, read from `PARLEY_*` environment variables (and `.env`).

Nothing set means the embedded default: SQLite under ./var, in-memory broadcast, an
in-process job worker, local-disk files and emails written to the log.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "insecure-development-key-change-me-0123456789"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


QUERY_LIMIT_CALLERS = ("anonymous", "user", "bot", "partner")
QUERY_LIMIT_NAMES = (
    "max_depth",
    "max_aliases",
    "max_tokens",
    "max_root_fields",
    "max_mutations",
    "max_directives",
    "max_cost",
    "cost_budget_per_hour",
)


class Introspection(StrEnum):
    everyone = "true"
    users = "users"
    nobody = "false"


class StorageBackend(StrEnum):
    local = "local"
    s3 = "s3"


class ConfigurationError(Exception):
    """A setting that Parley cannot run with; its message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", env_file=".env", extra="ignore", populate_by_name=True)

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
    database_read_url: str = Field(
        "",
        description="A read-only PostgreSQL replica (postgresql+asyncpg://…) for query operations that tolerate lag "
        "(lists, reports, search); subscriptions, authentication and writes stay on PARLEY_DATABASE_URL; "
        "empty = everything on PARLEY_DATABASE_URL",
    )
    database_read_your_writes_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="With a replica: for this long after a write, the queries of the session that wrote read from "
        "PARLEY_DATABASE_URL, so a client sees its own writes whatever the replica's lag",
    )
    database_pool_size: int = Field(
        20,
        description="Connections kept per process (PostgreSQL); size it for the requests a process serves at once: "
        "a connection beyond it (an overflow one) is opened for one use and closed after it",
    )
    database_max_overflow: int = Field(10, description="Extra connections under load (PostgreSQL)")
    database_pool_timeout_seconds: float = Field(
        3.0, gt=0, le=300, description="How long a request or job waits for a pooled connection before it fails"
    )
    fast_reads: bool = Field(
        True,
        description="Serve read documents the compiled read path maps (conversation lists and one conversation) "
        "with one SQL statement that builds the JSON; off: every document runs through field resolvers",
    )
    fast_reads_concurrency: int = Field(
        5,
        ge=1,
        le=1000,
        description="Requests the fast read path (parley/fast_http.py) works on at once in one process; more wait "
        "their turn in order. Each is a millisecond or so of this process's CPU around one statement: a few at a "
        "time keep the process and the database busy, more only interleave on one event loop and lengthen the "
        "slowest answers",
    )
    redis_max_connections: int = Field(
        64, ge=1, le=10_000, description="Redis connections per process; beyond this a caller waits (see the timeout)"
    )
    redis_pool_timeout_seconds: float = Field(
        1.0, gt=0, le=60, description="How long a caller waits for a pooled Redis connection before it fails"
    )
    rate_limit_redis_timeout_seconds: float = Field(
        0.5,
        gt=0,
        le=10,
        description="A rate-limit check Redis does not answer within this counts in the process instead",
    )
    rate_limit_lease_seconds: float = Field(
        0.25,
        ge=0,
        le=5,
        description="A busy caller's rate limits and cost budget are taken from Redis a few requests at a time and "
        "counted in the process for this long (no round trip per request; limits still hold across replicas). "
        "The credentials' epoch is read at least this often, so a credential change whose announcement is lost "
        "is seen by every replica within it. 0: one round trip on every request",
    )
    auth_cache_max_age_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="How long a process keeps a resolved credential (forgotten at once when a session, membership, "
        "role or token changes; 0 = read the database on every request)",
    )
    redis_url: str = Field(
        "",
        validation_alias=AliasChoices("PARLEY_REDIS_URL", "REDIS_URL"),
        description="redis://host:port/db; empty = in-memory broadcast and in-process jobs",
    )
    data_dir: Path = Field(Path("var"), description="Where the embedded default keeps its files")
    host: str = Field("127.0.0.1", description="Address `parley serve` binds")
    port: int = Field(8000, description="Port `parley serve` binds")
    forwarded_allow_ips: str = Field(
        "",
        description="Proxies trusted to set X-Forwarded-For/-Proto (comma-separated IPs or networks, or *); "
        "default: none, the connecting address is the client's",
    )
    public_url: str = Field("", description="The URL clients reach Parley at; default http://host:port")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: str = Field("json", description="json (one object per line) or console")
    graphiql: bool | None = Field(
        None,
        description="Serve the GraphiQL explorer on GET /graphql for browsers; default: off in production, "
        "elsewhere unless introspection is off",
    )
    introspection: Introspection | None = Field(
        None,
        description="Who may introspect the schema and get field suggestions: true (everyone), users (signed-in "
        "users, not anonymous, bot or partner callers) or false; default: true, users in production",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins (JSON list, or ["*"]) whose pages may call /graphql with bearer tokens (CORS); '
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
    rate_limit_authenticated_per_minute: int = Field(1200, description="Requests a minute per user or token; 0 = off")
    rate_limit_ip_per_minute: int = Field(
        3000, description="Requests a minute per IP whatever the credentials (a ceiling); 0 = off"
    )
    query_max_depth: int = Field(12, description="Deepest field nesting of a query")
    query_max_aliases: int = Field(30, description="Most aliases in a document (counted through fragments)")
    query_max_tokens: int = Field(5000, description="Most lexical tokens in a document")
    query_max_document_chars: int = Field(
        32_000,
        description="Longest GraphQL document accepted, in characters (comments and whitespace count), "
        "checked before parsing",
    )
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
    compiled_completion: bool = Field(
        True,
        description="Complete plain parts of a selection with generated code instead of field by field "
        "(schema/execution/completion.py); off: stock graphql-core completion",
    )
    max_body_bytes: int = Field(1_000_000, description="Largest HTTP request body accepted on /graphql")
    broadcast_queue_size: int = Field(
        1000, description="Events buffered per subscriber before it is closed as too slow"
    )
    metrics_token: str = Field(
        "",
        description="Bearer token that unlocks GET /metrics (Prometheus text format); unset: /metrics answers 404",
    )
    otel_endpoint: str = Field(
        "",
        description="OTLP/HTTP base URL traces are sent to (spans go to <url>/v1/traces); unset: tracing is off "
        "and nothing is instrumented",
    )
    otel_service_name: str = Field("parley", description="The service.name traces are reported under")
    otel_export_timeout_seconds: float = Field(10.0, description="How long one export of spans may take")
    otel_flush_ms: int = Field(2000, description="How often buffered spans are sent, in milliseconds")
    # --- real-time ---
    ws_max_subscriptions: int = Field(20, description="Concurrent subscriptions one WebSocket may hold")
    ws_max_messages_per_minute: int = Field(
        300, description="Messages a client may send on one WebSocket per minute before it is closed (4429)"
    )
    http_max_streams_per_caller: int = Field(
        20, description="Concurrent subscriptions over HTTP (SSE, multipart) one caller may hold on one API process"
    )
    http_max_concurrency: int = Field(
        20,
        ge=1,
        le=10_000,
        description="GraphQL requests one API process works on at once; more wait in a short queue. Keep it at most "
        "PARLEY_DATABASE_POOL_SIZE: requests beyond the pooled connections open and close an overflow one each",
    )
    http_queue_size: int = Field(
        64,
        ge=0,
        le=100_000,
        description="Requests that may wait for a slot; beyond this they get 503 with Retry-After at once",
    )
    http_queue_timeout_seconds: float = Field(
        1.0, ge=0, le=60, description="How long a queued request waits for a slot before it gets 503 with Retry-After"
    )
    http_retry_after_seconds: int = Field(
        1, ge=1, le=3600, description="Retry-After of a request refused under overload"
    )
    assignment_sweep_seconds: float = Field(
        10.0, description="How often waiting conversations are offered to agents who came online"
    )
    scheduled_messages_sweep_seconds: float = Field(
        5.0, description="How often the scheduler sends the scheduled messages whose time has come"
    )
    auto_resolve_sweep_seconds: float = Field(
        60.0, description="How often idle conversations are resolved under their account's auto-resolve setting"
    )
    sla_sweep_seconds: float = Field(
        10.0, gt=0, description="How often SLA deadlines and warnings that came due are recorded"
    )
    presence_ttl_seconds: int = Field(60, description="How long a socket counts as online without a heartbeat")
    presence_heartbeat_seconds: float = Field(20, description="How often an open socket renews its presence")
    typing_timeout_seconds: float = Field(6, description="A typing indicator turns itself off after this long")
    realtime_poll_seconds: float = Field(
        30, description="Streams re-read the event log at least this often, whatever the broadcast says"
    )
    realtime_direct_send: bool = Field(
        True,
        description="The hub writes each event's frame to a waiting graphql-transport-ws subscription itself, in one "
        "loop over the sockets that share its result; off: every event passes through the socket's own stream",
    )
    worker_in_process: bool | None = Field(
        None, description="Run jobs in a thread of the API process; default: yes without Redis"
    )
    worker_idle_poll_ms: int = Field(
        100,
        ge=10,
        le=5000,
        description="How often an idle worker asks the broker for new jobs at most (the latency of a job on an idle queue)",
    )
    webhooks_max_in_flight: int = Field(
        128, ge=1, le=10_000, description="Webhook requests one worker process sends at once (off its job threads)"
    )
    webhooks_per_host_concurrency: int = Field(
        8,
        ge=1,
        le=1000,
        description="Webhook requests one worker process sends at once to one receiver (host and port)",
    )
    webhooks_per_host_backlog: int = Field(
        500, ge=1, le=100_000, description="Attempts one worker process holds for one receiver; more wait in the outbox"
    )
    worker_threads: int = Field(4, description="Job threads per worker process")
    dramatiq_namespace: str = Field("parley", description="Key prefix of the Dramatiq queues in Redis")
    signup_enabled: bool = Field(True, description="Let anyone create an account with accountCreate")
    signup_per_ip_per_hour: int = Field(5, description="Sign-ups (anonymous accountCreate) an hour per IP; 0 = off")
    login_failures_per_email_ip: int = Field(
        5,
        description="Failed sign-ins per email and IP before each further attempt waits (30 s, doubling up to 15 min)",
    )
    login_failures_per_ip: int = Field(50, description="Failed sign-ins per IP across all emails in 15 minutes")
    login_failures_per_email: int = Field(
        100, description="Failed sign-ins per email in an hour from anywhere but the owner's known devices"
    )
    password_resets_per_email_per_hour: int = Field(3, description="Password-reset requests an hour per email")
    password_resets_per_ip_per_hour: int = Field(20, description="Password-reset requests an hour per IP")
    bcrypt_rounds: int = Field(
        12, ge=4, le=31, description="bcrypt cost of new password hashes (2^n rounds); at least 10 in production"
    )
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
    # --- inbound email ---
    mail_inbound_secret: str = Field(
        "",
        description="Secret a relay service sends to POST /mail/inbound (X-Parley-Mail-Secret header or bearer "
        "token); empty = the HTTP ingress is off",
    )
    mail_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest inbound email accepted by every door (raw MIME bytes)"
    )
    mail_imap_poll_seconds: float = Field(
        60.0, gt=0, description="How often the scheduler reads the email inboxes' IMAP mailboxes"
    )
    mail_imap_idle: bool = Field(
        True,
        description="Keep a connection in IMAP IDLE on mailboxes whose server offers it, so new mail is "
        "read within seconds (polling goes on as the safety net)",
    )
    mail_imap_idle_check_seconds: float = Field(
        30.0, gt=0, description="How often a scheduler renews its IDLE watchers' leases and starts missing ones"
    )
    mail_in_host: str = Field("127.0.0.1", description="What `parley mail-in` (inbound SMTP) binds")
    mail_in_port: int = Field(2525, description="The port `parley mail-in` listens on")
    # --- notifications ---
    notification_email_delay_seconds: float = Field(
        180.0,
        description="How long an email notification waits, collecting the conversation's further notifications "
        "into one email; notifications read by then are not emailed",
    )
    # --- worker runtime and webhooks ---
    worker_heartbeat_timeout_ms: int = Field(
        60_000,
        ge=1000,
        description="A worker silent this long counts as dead; its unfinished jobs go back to their queue",
    )
    worker_missing_after_seconds: float = Field(
        60,
        gt=0,
        description="With jobs out of process, /readyz reports the worker missing when none was seen this long",
    )
    worker_maintenance_chance: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Broker commands per million that also requeue dead workers' jobs (Dramatiq's maintenance)",
    )
    shutdown_timeout_seconds: float = Field(
        5,
        description="On SIGTERM, how long `serve` lets open requests and streams finish; sockets are closed with "
        "1012 (service restart) at once, and whatever still runs afterwards is cancelled",
    )
    worker_shutdown_timeout_seconds: float = Field(
        30, description="On SIGTERM, how long `parley worker` lets running jobs finish; the rest return to the queue"
    )
    outbox_lease_seconds: float = Field(
        10,
        ge=1,
        le=3600,
        description="An outbox job sent to the broker but not finished within this long is sent "
        "again (the broker lost it, or its worker died); the worker running a job renews it every third of this",
    )
    outbox_sweep_seconds: float = Field(
        2, gt=0, le=300, description="How often the outbox sweeper looks for jobs to send again"
    )
    idempotency_key_ttl_hours: float = Field(
        24, gt=0, le=24 * 30, description="How long a mutation's Idempotency-Key and its result are kept"
    )
    events_retention_days: int = Field(30, description="Relayed event-log rows older than this are deleted; 0 = keep")
    secrets_encryption_key: str = Field(
        "",
        description="Base64 of 32 random bytes that encrypts stored secrets (AES-256-GCM); empty = derived from "
        "PARLEY_SECRET_KEY",
    )
    secrets_previous_keys: list[str] = Field(
        default_factory=list, description="Earlier encryption keys (JSON list, base64) still accepted for reading"
    )
    mail_allow_private_hosts: bool = Field(
        False,
        description="Let inboxes' IMAP and SMTP servers be private, loopback or link-local addresses "
        "(off: refused when saved and before each connection)",
    )
    webhooks_allow_private_targets: bool = Field(
        False,
        description="Let webhooks reach private, loopback and link-local addresses (never in production "
        "unless the network is yours)",
    )
    webhooks_timeout_seconds: float = Field(15, gt=0, le=120, description="Total time one webhook request may take")
    webhooks_max_attempts: int = Field(
        10, ge=1, le=50, description="Tries per webhook delivery (the first and its retries)"
    )
    webhooks_retry_base_seconds: float = Field(
        5,
        gt=0,
        description="First retry delay of a webhook delivery; each next one is 4 times longer, at most 8 hours "
        "(10 tries span about a day)",
    )
    webhooks_disable_after_failures: int = Field(
        5, ge=1, description="Deliveries in a row that exhaust their retries before the webhook is disabled"
    )

    @field_validator("secrets_encryption_key", "secrets_previous_keys")
    @classmethod
    def _check_encryption_keys(cls, value: str | list[str]) -> str | list[str]:
        import base64
        import binascii

        for key in [value] if isinstance(value, str) else value:
            try:
                ok = not key or len(base64.b64decode(key + "=" * (-len(key) % 4), validate=True)) == 32
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise ValueError("use the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")
        return value

    # --- storage ---
    storage_backend: StorageBackend | None = Field(
        None,
        description="Where attachments live: local (files under storage_local_dir) or s3; default: s3 when "
        "PARLEY_S3_BUCKET is set",
    )
    storage_local_dir: Path | None = Field(None, description="Directory of the local backend; default <data_dir>/files")
    storage_public_url: str = Field(
        "",
        description="Base URL of the local backend's signed upload and download links (e.g. a separate files "
        "domain); default: public_url",
    )
    storage_max_upload_bytes: int = Field(40 * 1024 * 1024, description="Largest attachment accepted (Chatwoot: 40 MB)")
    storage_upload_expires_seconds: int = Field(600, description="How long a presigned upload stays valid")
    storage_download_expires_seconds: int = Field(300, description="How long a download link stays valid")
    s3_endpoint_url: str = Field("", description="S3 API endpoint (MinIO, …); empty = AWS S3")
    s3_public_endpoint_url: str = Field(
        "",
        description="Endpoint put into presigned URLs when clients reach storage by another address; default: s3_endpoint_url",
    )
    s3_region: str = Field("us-east-1", description="S3 region")
    s3_bucket: str = Field(
        "", validate_default=True, description="Bucket of the attachments; setting it selects the s3 backend"
    )
    s3_access_key_id: str = Field("", description="S3 access key; empty = the default AWS credential chain")
    s3_secret_access_key: str = Field("", description="S3 secret key")
    s3_path_style: bool | None = Field(
        None, description="Path-style addressing (bucket in the path); default: on with a custom endpoint (MinIO)"
    )

    # --- reports ---
    reports_export_batch_rows: int = Field(1000, description="Rows a report export reads and writes per batch")
    reports_export_url_expires_seconds: int = Field(
        300, description="How long a report export's download link stays valid"
    )

    # --- widget ---
    widget_session_days: int = Field(180, description="How long a website widget's contact session token is valid")
    widget_sessions_per_ip_per_minute: int = Field(
        20, description="widgetSessionStart calls a minute per IP (bursts up to the same number); 0 = off"
    )
    widget_conversations_per_ip_per_minute: int = Field(
        10, description="New widget conversations a minute per IP; 0 = off"
    )
    widget_conversations_per_session_per_minute: int = Field(
        3, description="New widget conversations a minute per contact session; 0 = off"
    )
    widget_messages_per_ip_per_minute: int = Field(120, description="Widget messages a minute per IP; 0 = off")
    widget_messages_per_session_per_minute: int = Field(
        30, description="Widget messages a minute per contact session; 0 = off"
    )
    widget_max_message_chars: int = Field(10_000, description="Longest message a website visitor may send")

    @field_validator("database_read_url")
    @classmethod
    def _check_read_database_scheme(cls, value: str) -> str:
        if not value:
            return value
        scheme = urlsplit(value).scheme
        if scheme in ("postgres", "postgresql"):
            return "postgresql+asyncpg" + value[len(scheme) :]
        if scheme != "postgresql+asyncpg":
            raise ValueError(
                f"unsupported read database scheme {scheme!r}: a replica is PostgreSQL (postgresql+asyncpg://)"
            )
        return value

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
        aliases = {
            "1": "true",
            "yes": "true",
            "on": "true",
            "all": "true",
            "everyone": "true",
            "0": "false",
            "no": "false",
            "off": "false",
            "none": "false",
            "nobody": "false",
        }
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
    def uses_read_replica(self) -> bool:
        """Whether query operations may read from PARLEY_DATABASE_READ_URL (only beside PostgreSQL)."""
        return bool(self.database_read_url) and not self.is_sqlite

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
            "max_depth": self.query_max_depth,
            "max_aliases": self.query_max_aliases,
            "max_tokens": self.query_max_tokens,
            "max_root_fields": self.query_max_root_fields,
            "max_mutations": self.query_max_mutations,
            "max_directives": self.query_max_directives,
            "max_cost": self.query_max_cost,
            "cost_budget_per_hour": self.query_cost_budget_per_hour,
        }
        limits.update(self.query_limits_by_caller.get(caller, {}))
        return limits

    @property
    def graphiql_enabled(self) -> bool:
        if self.graphiql is not None:
            return self.graphiql
        # Production serves no explorer unless an operator asks for it (PARLEY_GRAPHIQL=true).
        return self.env != Environment.production and self.introspection_policy != Introspection.nobody

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @field_validator("s3_bucket")
    @classmethod
    def _check_bucket(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("storage_backend") == StorageBackend.s3:
            raise ValueError("the s3 storage backend needs a bucket")
        return value

    @property
    def effective_storage_backend(self) -> StorageBackend:
        if self.storage_backend is not None:
            return self.storage_backend
        return StorageBackend.s3 if self.s3_bucket else StorageBackend.local

    @property
    def storage_directory(self) -> Path:
        return self.storage_local_dir or self.data_dir / "files"

    @property
    def storage_signing_key(self) -> bytes:
        """Signs the local backend's URLs; derived from the secret key, so rotating that rotates this."""
        import hashlib
        import hmac

        return hmac.new(self.secret_key.encode(), b"parley-storage-url-v1", hashlib.sha256).digest()

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
        if self.bcrypt_rounds < 10:
            problems.append("PARLEY_BCRYPT_ROUNDS must be at least 10")
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
            # A field read through a validation alias reports the alias itself (PARLEY_DATABASE_URL).
            field = str(err["loc"][0]) if err["loc"] else ""
            name = field if field.isupper() else "PARLEY_" + field.upper()
            parts.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid configuration: " + "; ".join(parts)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
