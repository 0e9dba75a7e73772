"""The per-request (or per-socket) GraphQL context: who is calling, the request's database session and
transaction, DataLoaders, and the cookie and origin rules of a browser session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection, Request

import domain.accounts.auth_cache  # noqa: F401 - its flush listeners mark changes that authentication reads
from domain.accounts.actor import ANONYMOUS, Actor
from domain.audit import RequestMeta
from domain.errors import Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from domain.accounts.auth import TokenPair
    from infra.broadcast import BoundedBroadcast
    from infra.services import Services
    from infra.settings import Settings

ACCESS_COOKIE = "parley_access"
REFRESH_COOKIE = "parley_refresh"
CSRF_HEADER = "x-parley-csrf"
ACCOUNT_HEADER = "x-parley-account"


@dataclass
class Credential:
    """What the client presented, before it is checked."""

    token: str | None = None
    from_cookie: bool = False
    csrf_problem: str | None = None  # why a cookie may not be used for this request
    account_ref: str | None = None


@dataclass
class Context:
    services: Services
    request: Request | WebSocket | None = None
    response: Response | None = None
    request_id: str | None = None
    credential: Credential = field(default_factory=Credential)
    meta: RequestMeta = field(default_factory=RequestMeta)
    connection_params: dict[str, Any] | None = None
    _session: AsyncSession | None = field(default=None, repr=False)
    _session_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _actor: Actor | None = field(default=None, repr=False)
    _actor_error: Exception | None = field(default=None, repr=False)
    _loaders: Any = field(default=None, repr=False)
    revoked_session_ids: list[str] = field(default_factory=list)
    read_only: bool = False  # a query operation: its statements run without a transaction
    operation_name: str | None = None  # the operation the document selected (for metrics and traces)
    # The request's rate limits, left by the HTTP view to be checked with the cost budget in one round
    # trip (schema/extensions/budget.py): ([RateCheck], hits); `throttled` is (retry after, limit) if refused.
    pending_limits: Any = None
    throttled: tuple[int, str] | None = None
    caller: Any = None  # resolvers.caller.Caller: limits and cost budget of whoever sends the operation
    # Set when the request's limits round trip found the credentials' epoch moved (auth_cache.py): the
    # actor was forgotten and resolves again from the database.
    credentials_refreshed: bool = False
    actor_from_cache: bool = False  # the actor came from the process's auth cache (not read now)
    # Sessions this request started (sign-in, sign-up, refresh): they count as having written, so
    # their first queries read from the primary (read_routing.py), marked when the request closes.
    written_sessions: list[str] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def broadcast(self) -> BoundedBroadcast:
        return self.services.broadcast

    @property
    def loaders(self):
        if self._loaders is None:
            from resolvers.loaders import Loaders

            self._loaders = Loaders(self.db)
        return self._loaders

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request's session, one user at a time: sibling resolvers run concurrently and an
        AsyncSession must never be used by two of them at once."""
        async with self._session_lock:
            if self._session is None:
                reads = await self._read_sessions() if self.read_only else None
                self._session = (reads or self.services.sessions)()
            yield self._session

    async def _read_sessions(self) -> Any:
        """A query's sessions: the replica's (PARLEY_DATABASE_READ_URL), unless this caller's session
        wrote within the read-your-writes window; then, as without a replica, the primary's."""
        services = self.services
        if services.replica_sessions is None:
            return services.read_sessions
        health = services.replica_health
        if health is not None and not health.healthy:
            return services.read_sessions  # the replica does not answer: the primary serves the reads
        from domain.accounts.tokens import is_widget_token

        token = self.credential.token
        if token and is_widget_token(token) and not self.credential.from_cookie:
            return services.read_sessions  # a widget session is resolved (and touched) in this very session
        if token:
            with contextlib.suppress(NotAuthenticated, Forbidden):
                await self.actor()  # its session id is the mark a new session's sign-in left
        if await services.recent_writes.recent(self._session_keys()):
            return services.read_sessions
        return services.replica_sessions

    def _session_keys(self) -> list[str]:
        """What identifies the caller's session for read-your-writes: the presented token and, once
        known, the session it belongs to (which outlives a refreshed access token)."""
        from infra.read_routing import session_key

        keys = [session_key("token", self.credential.token)] if self.credential.token else []
        session_id = self._actor.session_id if self._actor is not None else None
        keys += [session_key("session", s) for s in (session_id, *self.written_sessions) if s]
        return keys

    async def remember_write(self) -> None:
        """This caller wrote: its queries read from the primary for the read-your-writes window."""
        if self.services.recent_writes is not None:
            await self.services.recent_writes.mark(self._session_keys())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction for a mutation (domain/events/unit.py): commit at the end (rollback on any
        error), then relay what the change caused (events, outbox jobs, session revocations)."""
        from domain.events import Relay, pending, unit_of_work

        # A query's session runs without a transaction: whatever it writes gets a session of its own.
        open_session = self.services.sessions if self.read_only else self.db
        async with unit_of_work(open_session, Relay.of(self.services)) as session:
            yield session
            pending(session).revoked_session_ids.extend(self.revoked_session_ids)
        self.revoked_session_ids = []
        await self.remember_write()

    async def actor(self) -> Actor:
        """Who is acting, resolved once from the presented credential and account."""
        if self._actor is not None:
            return self._actor
        if self._actor_error is not None:
            raise self._actor_error
        try:
            self._actor = await self._resolve_actor()
        except (NotAuthenticated, Forbidden) as exc:
            self._actor_error = exc
            raise
        return self._actor

    def forget_actor(self) -> None:
        self._actor = None
        self._actor_error = None
        self.actor_from_cache = False

    async def _resolve_actor(self) -> Actor:
        from schema.core.ids import decode_id

        cred = self.credential
        if not cred.token:
            return ANONYMOUS
        if cred.from_cookie and cred.csrf_problem:
            raise Forbidden(f"Cookie authentication refused: {cred.csrf_problem}")
        from domain.accounts.tokens import is_widget_token

        if is_widget_token(cred.token) and not cred.from_cookie:
            return await self._widget_actor(cred.token)
        account_id = None
        if cred.account_ref:
            ref = cred.account_ref.strip()
            try:
                account_id = int(ref) if ref.isdigit() else decode_id(ref, "Account")
            except Exception:  # noqa: BLE001
                raise Forbidden("Unknown account in X-Parley-Account") from None
        return await self._credential_actor(cred.token, account_id)

    async def _credential_actor(self, token: str, account_id: int | None) -> Actor:
        """An access, API or partner token's actor: from this process's cache when it holds it (no
        database read), else read (without a transaction) and kept."""
        from domain.accounts import auth
        from domain.accounts.tokens import hash_secret
        from domain.partners import service as partners

        cache = self.services.auth_cache
        claims = None
        if partners.is_partner_token(token):
            key: tuple[Any, ...] = ("partner", hash_secret(token), account_id)
        elif auth.is_api_token(token):
            key = ("api", hash_secret(token), account_id)
        else:
            claims = auth.access_claims(self.settings.secret_key, token)  # the signature, before anything
            key = ("access", claims.session_id, claims.user_id, claims.issued_at, account_id)
        actor = cache.get(key) if cache is not None else None
        self.actor_from_cache = actor is not None
        if actor is None:
            generation = cache.generation if cache is not None else 0
            async with (self.services.read_sessions or self.services.sessions)() as session:
                if key[0] == "partner":
                    actor = await partners.actor_for_partner_token(session, token, account_id)
                elif key[0] == "api":
                    actor = await auth.actor_for_api_token(session, token, account_id)
                else:
                    assert claims is not None
                    actor = await auth.actor_for_access_claims(session, claims, account_id)
            if cache is not None:
                cache.put(key, actor, generation)
        if key[0] != "access":
            await self._touch(actor, key[1])
        return actor

    async def _touch(self, actor: Actor, token_hash: str) -> None:
        """A token's last-used time: at most once a minute, written beside the request."""
        from db.base import utcnow
        from domain.accounts import auth
        from domain.partners import service as partners

        token_id = getattr(actor, "partner_token_id", None)
        if token_id is not None:
            write = partners.touch_token
        elif actor.api_token_id is not None:
            write, token_id = auth.touch_api_token, actor.api_token_id
        else:
            return
        sessions = self.services.sessions

        async def touch(now: Any) -> None:
            await write(sessions, token_id, now)

        cache = self.services.auth_cache
        if cache is None:
            await touch(utcnow())
        else:
            cache.touch(token_hash, touch, utcnow())

    async def _widget_actor(self, token: str) -> Actor:
        """A website widget's contact session; from another origin only one of its inbox's allowed domains."""
        from domain.widget.config import origin_allowed
        from domain.widget.sessions import actor_for_token

        async with self.db() as session:
            actor, _ = await actor_for_token(session, self.settings.secret_key, token)
            await session.commit()
        origin = self.widget_origin()
        if origin is not None and not origin_allowed(actor.allowed_domains, origin):
            raise Forbidden("This site may not use this widget")
        return actor

    def widget_origin(self) -> str | None:
        """The page's origin when it is not Parley's own (None: same origin, or not a browser)."""
        if self.request is None:
            return None
        origin = self.request.headers.get("origin")
        if not origin:
            return None
        return None if origin.rstrip("/").lower() in allowed_origins(self.request, self.services) else origin

    def set_session_cookies(self, pair: TokenPair) -> None:
        if self.response is None:
            return
        secure = self.settings.cookies_secure
        self.response.set_cookie(
            ACCESS_COOKIE, pair.access_token, max_age=15 * 60, path="/", secure=secure, httponly=True, samesite="lax"
        )
        self.response.set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token,
            max_age=7 * 24 * 3600,
            path="/graphql",
            secure=secure,
            httponly=True,
            samesite="strict",
        )

    def clear_session_cookies(self) -> None:
        if self.response is None:
            return
        self.response.delete_cookie(ACCESS_COOKIE, path="/")
        self.response.delete_cookie(REFRESH_COOKIE, path="/graphql")

    def cookie(self, name: str) -> str | None:
        if self.request is None:
            return None
        return self.request.cookies.get(name)

    async def release(self) -> None:
        """Between events of a long-lived socket: drop the session (and with it the identity map, so
        the next event reads fresh rows) and the DataLoaders' caches, without holding a connection."""
        async with self._session_lock:
            self._loaders = None
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()

    async def close(self) -> None:
        """End of the request or socket. Under the session lock: a resolver still using the
        session (a stream cancelled mid-read) finishes with it first, then it is closed."""
        async with self._session_lock:
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()
        if self.written_sessions:
            await self.remember_write()
            self.written_sessions = []


# --- which origins may use a session cookie ------------------------------------------------------


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(conn: HTTPConnection, services: Services) -> set[str]:
    settings = services.settings
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    own = {f"{scheme}://{conn.headers.get('host', '')}".lower()}
    if settings.public_url:
        own.add(_origin_of(settings.public_url))
    return own | {o.rstrip("/").lower() for o in settings.dashboard_origins}


def csrf_problem(request: Request, services: Services) -> str | None:
    """Why this request may not act with the session cookie, or None. Cookie-authenticated requests
    must carry the custom header (a cross-site form or image cannot) and, when the browser says where
    it comes from, an allowed Origin."""
    if CSRF_HEADER not in request.headers:
        return "missing X-Parley-CSRF header"
    origin = request.headers.get("origin")
    if origin and origin.lower() not in allowed_origins(request, services):
        return f"origin {origin} is not allowed"
    return None
