"""The per-request (or per-socket) GraphQL context and the services the app holds for its lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.accounts.actor import ANONYMOUS, Actor
from domain.audit import RequestMeta
from domain.errors import Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from domain.accounts.auth import TokenPair
    from domain.accounts.throttle import LoginThrottle
    from parley.broadcast import BoundedBroadcast
    from parley.settings import Settings

ACCESS_COOKIE = "parley_access"
REFRESH_COOKIE = "parley_refresh"
CSRF_HEADER = "x-parley-csrf"
ACCOUNT_HEADER = "x-parley-account"


@dataclass
class Services:
    """Process-wide services, created in the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broadcast: BoundedBroadcast
    login_throttle: LoginThrottle
    redis: Any | None = None  # redis.asyncio.Redis when configured
    broker: Any | None = None  # the dramatiq.Broker this app enqueues to
    rate_limiter: Any | None = None  # parley.ratelimit: requests per minute (GCRA)
    cost_budget: Any | None = None  # parley.ratelimit: query cost per hour
    documents: Any | None = None  # parley.persisted: automatic persisted queries
    operations: Any | None = None  # parley.persisted: partners' registered operations
    presence: Any | None = None  # parley.presence: which agents have a socket open

    async def enqueue(self, actor: Any, *args: Any, **kwargs: Any) -> None:
        """Send a job to this app's broker (not the actor's global one); off the loop, since the
        Redis broker's client is synchronous."""
        message = actor.message(*args, **kwargs)
        await asyncio.to_thread(self.broker.enqueue, message)


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
    caller: Any = None  # schema.limits.Caller: limits and cost budget of whoever sends the operation

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
                self._session = self.services.sessions()
            yield self._session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction for a mutation: commit at the end (rollback on any error), then relay what
        the change caused (outbox jobs, session revocations)."""
        from domain import events

        async with self.db() as session:
            try:
                yield session
                await events.finalize(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                session.info.pop("outbox_jobs", None)
                events.discard(session)
                raise
            jobs = session.info.pop("outbox_jobs", [])
            committed = session.info.pop(events.FINALIZED, [])
        from parley.relay import after_commit

        await after_commit(self.services, jobs, self.revoked_session_ids, committed)
        self.revoked_session_ids = []

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

    async def _resolve_actor(self) -> Actor:
        from domain.accounts import auth
        from domain.partners import service as partners
        from schema.ids import decode_id

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
        async with self.db() as session:
            if partners.is_partner_token(cred.token):
                actor = await partners.actor_for_partner_token(session, cred.token, account_id)
            elif auth.is_api_token(cred.token):
                actor = await auth.actor_for_api_token(session, cred.token, account_id)
            else:
                actor = await auth.actor_for_access_token(session, self.settings.secret_key, cred.token, account_id)
            # Ends the read transaction and keeps a token's last-used time.
            await session.commit()
        return actor

    async def _widget_actor(self, token: str) -> Actor:
        """A website widget's contact session; from another origin only one of its inbox's allowed domains."""
        from domain import widget

        async with self.db() as session:
            actor, _ = await widget.actor_for_token(session, self.settings.secret_key, token)
            await session.commit()
        origin = self.widget_origin()
        if origin is not None and not widget.origin_allowed(actor.allowed_domains, origin):
            raise Forbidden("This site may not use this widget")
        return actor

    def widget_origin(self) -> str | None:
        """The page's origin when it is not Parley's own (None: same origin, or not a browser)."""
        if self.request is None:
            return None
        origin = self.request.headers.get("origin")
        if not origin:
            return None
        from parley.graphql_view import allowed_origins

        return None if origin.rstrip("/").lower() in allowed_origins(self.request, self.services) else origin

    def set_session_cookies(self, pair: TokenPair) -> None:
        if self.response is None:
            return
        secure = self.settings.cookies_secure
        self.response.set_cookie(
            ACCESS_COOKIE, pair.access_token, max_age=15 * 60, path="/", secure=secure, httponly=True, samesite="lax"
        )
        self.response.set_cookie(
            REFRESH_COOKIE, pair.refresh_token, max_age=7 * 24 * 3600, path="/graphql", secure=secure,
            httponly=True, samesite="strict",
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
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
