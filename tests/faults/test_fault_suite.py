"""The fault suite: a whole deployment under bounded load while its parts fail, and what must hold
afterwards.

Two `parley serve` processes, one `parley worker`, a webhook receiver, agents' subscribers on both
API processes and writers on both, on a PostgreSQL cluster and a Redis of their own. During the load
an API process and the worker are killed with SIGKILL and restarted, Redis loses its data while jobs
wait in it (the worker stopped first, then FLUSHALL and a restart without persistence), and
PostgreSQL restarts in fast and in immediate (crash) mode. Clients retry a failed write with the same
`Idempotency-Key`, so an accepted write is one whose answer said ok.

Then: every accepted write is in the database, once; every committed event a webhook subscribes to
reached the receiver at least once, always under one webhook id; every event that calls for a
notification or a reporting row has it; every subscriber, resuming by cursor after each drop, got
exactly the committed positions of its stream, in order; and once the sweep interval has passed no
outbox job is open and no webhook delivery pending. Webhook latency (commit to arrival) is printed,
not asserted: performance targets live in bench/.

Run it alone with `pytest -m faults`; `-m "not faults"` leaves it out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from db.session import create_engine
from domain import realtime
from schema.core.ids import decode_id
from tests.support.accounts import Member, add_agent, signup
from tests.support.cluster import PostgresCluster
from tests.support.desk import ERR, user_id
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.receiver import Receiver
from tests.support.redis_proc import RedisProcess
from tests.support.server import ProcessServer
from tests.test_webhooks import create_webhook
from tests.test_worker_runtime import WorkerProcess

pytestmark = [pytest.mark.faults, pytest.mark.alone]

LEASE_SECONDS = 4.0
SWEEP_SECONDS = 1.0
WRITERS = 4
WRITE_PAUSE = 0.25  # seconds between one writer's writes
NEW_CONVERSATION_EVERY = 12  # writes
WRITE_GIVE_UP = 60.0  # seconds a write is retried before the client gives up
SETTLE_TIMEOUT = 150.0  # seconds for everything to be delivered once the load ends

MESSAGE = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t, messageType: INCOMING}}) {{
  message {{ id content }} {ERR} }} }}"""
CONVERSATION = f"""mutation($i: ID!, $c: ID!, $a: ID) {{ conversationCreate(input: {{inboxId: $i, contactId: $c, assigneeId: $a}}) {{
  conversation {{ id }} {ERR} }} }}"""
SUBSCRIPTION = "subscription($after: String) { accountEvents(after: $after) { cursor type } }"
# The events the webhook sends (activity lines, such as "assigned to …", are never sent).
HOOKED = "(e.type = 'conversation.created' OR e.type = 'message.created' AND m.message_type <> 'activity')"


# --- the deployment ------------------------------------------------------------------------------------


def _env(pg: PostgresCluster, redis: RedisProcess, smtp, namespace: str, data_dir: str, **extra: str) -> dict[str, str]:
    return {
        "PARLEY_ENV": "test",
        "PARLEY_DATABASE_URL": pg.url,
        "PARLEY_REDIS_URL": redis.url,
        "PARLEY_DATA_DIR": data_dir,
        "PARLEY_WORKER_IN_PROCESS": "false",
        "PARLEY_DRAMATIQ_NAMESPACE": namespace,
        "PARLEY_LOG_FORMAT": "json",
        "PARLEY_LOG_LEVEL": "WARNING",
        "PARLEY_SMTP_HOST": "127.0.0.1",
        "PARLEY_SMTP_PORT": str(smtp.port),
        "PARLEY_SMTP_STARTTLS": "false",
        "PARLEY_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "PARLEY_WEBHOOKS_RETRY_BASE_SECONDS": "0.5",
        "PARLEY_WEBHOOKS_TIMEOUT_SECONDS": "10",
        "PARLEY_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "PARLEY_OUTBOX_SWEEP_SECONDS": str(SWEEP_SECONDS),
        # The load comes from one user on one IP; the limits have tests of their own.
        "PARLEY_RATE_LIMIT_AUTHENTICATED_PER_MINUTE": "0",
        "PARLEY_RATE_LIMIT_IP_PER_MINUTE": "0",
        "PARLEY_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "0",
        "PARLEY_SIGNUP_PER_IP_PER_HOUR": "0",
        "PARLEY_REALTIME_POLL_SECONDS": "10",
        **extra,
    }


class ApiProcess(ProcessServer):
    """`parley serve` that keeps its port and its earlier output across a kill and a restart."""

    earlier = ""

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.earlier += self.read_output()


@dataclass
class Stack:
    pg: PostgresCluster
    redis: RedisProcess
    receiver: Receiver
    apis: list[ApiProcess]
    worker_env: dict[str, str]
    workers: list[WorkerProcess] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # what the faults did, with timings

    @property
    def worker(self) -> WorkerProcess:
        return self.workers[-1]

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.worker_env)
        self.workers.append(worker)
        return worker.start()

    def note(self, started: float, what: str) -> None:
        self.log.append(f"{time.monotonic() - started:6.1f}s {what}")

    def outputs(self) -> str:
        parts = [f"--- api {i}\n{api.earlier}{api.read_output()}" for i, api in enumerate(self.apis)]
        parts += [f"--- worker {i}\n{w.output()}" for i, w in enumerate(self.workers)]
        return "\n".join(parts)


def _migrate(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env["PARLEY_DATABASE_URL"] = url
    done = subprocess.run(
        [sys.executable, "-m", "parley.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def stack(smtp_server, tmp_path) -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup:
        pg = cleanup.enter_context(PostgresCluster())
        _migrate(pg.url)
        redis = RedisProcess().start()
        cleanup.callback(redis.stop)
        receiver = cleanup.enter_context(Receiver())
        namespace = f"parley-faults-{uuid.uuid4().hex[:6]}"
        apis = []
        for name in ("a", "b"):
            api = ApiProcess(_env(pg, redis, smtp_server, namespace, str(tmp_path / name)))
            cleanup.callback(api.stop)
            apis.append(api.start())
        # Dramatiq's own recovery at its defaults (a minute): the outbox lease is what brings jobs back.
        worker_env = _env(
            pg,
            redis,
            smtp_server,
            namespace,
            str(tmp_path / "worker"),
            PARLEY_LOG_LEVEL="INFO",
            PARLEY_WORKER_THREADS="4",
            PARLEY_WORKER_HEARTBEAT_TIMEOUT_MS="60000",
            PARLEY_WORKER_MAINTENANCE_CHANCE="1000",
        )
        built = Stack(pg, redis, receiver, apis, worker_env)
        cleanup.callback(lambda: [w.stop() for w in built.workers])
        built.start_worker()
        yield built


# --- clients -------------------------------------------------------------------------------------------


@dataclass
class Accepted:
    kind: str  # "message" or "conversation"
    id: int
    content: str | None
    tries: int


class Writer:
    """Writes through both API processes, retrying each write with its Idempotency-Key until an
    answer says ok (or it gives up, which the test counts)."""

    def __init__(
        self,
        number: int,
        clients: list[GraphQLHTTP],
        admin: Member,
        inbox_id: str,
        contact_id: str,
        agent_id: str,
        conversation_id: str,
    ) -> None:
        self.number, self.clients, self.admin = number, clients, admin
        self.inbox_id, self.contact_id, self.agent_id = inbox_id, contact_id, agent_id
        self.conversation_id = self.first_conversation = conversation_id
        self.accepted: list[Accepted] = []
        self.gave_up: list[str] = []
        self.retries = 0

    async def _write(self, document: str, variables: dict, name: str) -> tuple[dict | None, int]:
        key = f'"{uuid.uuid4()}"'
        headers = {**self.admin.headers(), "Idempotency-Key": key}
        deadline = time.monotonic() + WRITE_GIVE_UP
        last = ""
        for attempt in itertools.count():
            client = self.clients[(self.number + attempt) % len(self.clients)]  # a retry goes to the other process
            try:
                resp = await client.post(document, variables, headers=headers)
                if resp.status_code == 200:
                    body = resp.json()
                    payload = (body.get("data") or {}).get(name)
                    if not body.get("errors") and payload is not None and payload["errors"] == []:
                        return payload, attempt + 1
                    last = str(body.get("errors") or payload)[:300]
                else:
                    last = f"{resp.status_code} {resp.text[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = repr(exc)[:300]
            self.retries += 1
            if time.monotonic() > deadline:
                self.gave_up.append(f"{name}: {last}")
                return None, attempt + 1
            await asyncio.sleep(min(0.1 * (attempt + 1), 1.0))
        raise AssertionError("unreachable")

    async def run(self, stop: asyncio.Event) -> None:
        for n in itertools.count(1):
            if stop.is_set():
                return
            if n % NEW_CONVERSATION_EVERY == 0:
                payload, tries = await self._write(
                    CONVERSATION, {"i": self.inbox_id, "c": self.contact_id, "a": self.agent_id}, "conversationCreate"
                )
                if payload is not None:
                    gid = payload["conversation"]["id"]
                    self.accepted.append(Accepted("conversation", decode_id(gid, "Conversation"), None, tries))
                    self.conversation_id = gid
            else:
                content = f"writer {self.number} message {n} {uuid.uuid4().hex[:8]}"
                payload, tries = await self._write(MESSAGE, {"c": self.conversation_id, "t": content}, "messageCreate")
                if payload is not None:
                    assert payload["message"]["content"] == content, payload
                    self.accepted.append(
                        Accepted("message", decode_id(payload["message"]["id"], "Message"), content, tries)
                    )
            await asyncio.sleep(WRITE_PAUSE)


class Subscriber:
    """An agent's `accountEvents` stream that resumes with `after` = the last cursor received whenever
    its socket drops or the stream ends, on its own API process or else on the other one."""

    def __init__(self, name: str, member: Member, urls: list[str], start_cursor: str) -> None:
        self.name, self.member, self.urls = name, member, urls
        self.start = decode_id(start_cursor, "Event")
        self.cursor = start_cursor
        self.positions: list[int] = []
        self.resumes = 0
        self.target: int | None = None  # set once the load is over: the last position to wait for

    def caught_up(self) -> bool:
        return self.target is not None and (self.positions[-1] if self.positions else self.start) >= self.target

    async def run(self) -> None:
        for attempt in itertools.count():
            if self.caught_up():
                return
            url = self.urls[attempt % len(self.urls)] if attempt else self.urls[0]
            sock = SubscriptionSocket(url, payload={"token": self.member.access, "accountId": self.member.account_id})
            try:
                await sock.connect()
                await sock.subscribe(SUBSCRIPTION, {"after": self.cursor})
                while True:
                    try:
                        msg = await sock.receive(timeout=1)
                    except TimeoutError:
                        if self.caught_up():
                            return
                        continue
                    if msg.get("type") != "next" or msg["payload"].get("errors"):
                        break  # the stream ended (an error, or complete): resume
                    item = msg["payload"]["data"]["accountEvents"]
                    if item["type"] == "presence.changed":
                        continue  # ephemeral: not in the log, carries the last cursor again
                    self.positions.append(decode_id(item["cursor"], "Event"))
                    self.cursor = item["cursor"]
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a dropped socket, a refused connection: resume
                pass
            finally:
                with contextlib.suppress(Exception):
                    await sock.close()
            self.resumes += 1
            await asyncio.sleep(0.3)


# --- the faults ----------------------------------------------------------------------------------------


async def _open_jobs(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM outbox_jobs WHERE completed_at IS NULL"))).scalar_one()


async def _faults(stack: Stack, engine, started: float) -> dict[str, int]:
    seen: dict[str, int] = {}
    await asyncio.sleep(6)

    api = stack.apis[0]
    api.kill()
    stack.note(started, "kill -9 api a")
    await asyncio.sleep(1.5)

    async def restart_api() -> None:  # while the next faults go on: it takes a while on a busy machine
        await asyncio.to_thread(api.start)
        stack.note(started, "api a restarted")

    restarted = asyncio.create_task(restart_api())
    await asyncio.sleep(6)

    stack.worker.proc.send_signal(signal.SIGKILL)
    stack.worker.proc.wait(timeout=10)
    stack.note(started, "kill -9 worker")
    await asyncio.sleep(1.5)
    await asyncio.to_thread(stack.start_worker)
    stack.note(started, "worker restarted")
    await asyncio.sleep(6)

    # Jobs pile up in Redis with no worker to take them, then Redis loses them all.
    stack.worker.proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(stack.worker.proc.wait, 40)
    stack.note(started, "worker stopped")
    await asyncio.sleep(4)
    client = aioredis.Redis.from_url(stack.redis.url)
    try:
        seen["redis_keys_wiped"] = await client.dbsize()
        seen["open_jobs_at_wipe"] = await _open_jobs(engine)
        await client.flushall()
    finally:
        await client.aclose()
    await asyncio.to_thread(stack.redis.restart)
    stack.note(
        started,
        f"FLUSHALL + redis restarted ({seen['redis_keys_wiped']} keys, {seen['open_jobs_at_wipe']} open outbox jobs)",
    )
    await asyncio.sleep(1)
    await asyncio.to_thread(stack.start_worker)
    stack.note(started, "worker restarted")
    await asyncio.sleep(6)

    for mode in ("fast", "immediate"):
        down = await asyncio.to_thread(stack.pg.restart, mode, 2.0)
        stack.note(started, f"postgres restarted ({mode}, down {down:.1f}s)")
        await asyncio.sleep(7)
    await restarted
    return seen


# --- what must hold ------------------------------------------------------------------------------------


async def _rows(engine, sql: str, **params) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def _settled(engine, account_pk: int, receiver: Receiver) -> tuple[bool, dict]:
    """Whether everything the load set in motion is done, and the counts that say so."""
    [[open_jobs, dead_jobs]] = await _rows(
        engine, "SELECT count(*) FILTER (WHERE completed_at IS NULL), count(*) FILTER (WHERE dead) FROM outbox_jobs"
    )
    [[pending, delivered]] = await _rows(
        engine,
        "SELECT count(*) FILTER (WHERE status <> 'delivered'), "
        "count(*) FILTER (WHERE status = 'delivered') FROM webhook_deliveries",
    )
    without_delivery = [
        r[0]
        for r in await _rows(
            engine,
            f"SELECT e.id FROM events e LEFT JOIN messages m ON m.id = e.message_id WHERE e.account_id = :a AND {HOOKED} "
            "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) ORDER BY e.id",
            a=account_pk,
        )
    ]
    received = {r.webhook_id for r in list(receiver.requests)}
    not_received = sorted({r[0] for r in await _rows(engine, "SELECT message_id FROM webhook_deliveries")} - received)
    state = {
        "open_jobs": open_jobs,
        "dead_jobs": dead_jobs,
        "pending_deliveries": pending,
        "delivered": delivered,
        "events_without_delivery": without_delivery[:20],
        "deliveries_not_received": not_received[:20],
    }
    done = open_jobs == 0 and pending == 0 and not without_delivery and not not_received
    return done, state


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def test_nothing_is_lost_when_every_part_fails_under_load(stack: Stack, smtp, capsys, tmp_path):
    suite_started = time.monotonic()
    clients = [GraphQLHTTP(api.url) for api in stack.apis]
    for client in clients:
        client.client.timeout = httpx.Timeout(15)
    engine = create_engine(stack.pg.url, pool_size=2, max_overflow=2)
    tasks: list[asyncio.Task] = []
    try:
        # An administrator (the writers' caller), an agent who works the API inbox, a contact, a webhook.
        gql = clients[1]
        admin = await signup(gql, account="Faults")
        agent = await add_agent(gql, admin, smtp)
        inbox = await gql.data(
            f'mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        inbox_id = inbox["inboxCreate"]["inbox"]["id"]
        agent_id = await user_id(gql, agent)
        body = await gql.data(
            f"""mutation($i: ID!, $u: [ID!]!) {{ inboxMembersSet(id: $i, userIds: $u) {{ inbox {{ id }} {ERR} }} }}""",
            {"i": inbox_id, "u": [agent_id]},
            headers=admin.headers(),
        )
        assert body["inboxMembersSet"]["errors"] == [], body
        contact = await gql.data(
            f'mutation {{ contactCreate(input: {{name: "Kim Load"}}) {{ contact {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        contact_id = contact["contactCreate"]["contact"]["id"]
        await create_webhook(_Admin(gql, admin), stack.receiver.url, ["MESSAGE_CREATED", "CONVERSATION_CREATED"])
        account_pk = decode_id(admin.account_id, "Account")

        writers = []
        for number in range(WRITERS):
            body = await clients[number % 2].data(
                CONVERSATION, {"i": inbox_id, "c": contact_id, "a": agent_id}, headers=admin.headers()
            )
            writers.append(
                Writer(
                    number,
                    clients,
                    admin,
                    inbox_id,
                    contact_id,
                    agent_id,
                    body["conversationCreate"]["conversation"]["id"],
                )
            )

        start_cursor = (await gql.data("{ eventCursor }", headers=agent.headers()))["eventCursor"]
        urls = [api.ws_url for api in stack.apis]
        subscribers = [
            Subscriber(f"{who} on api {'ab'[home]}", member, urls[home:] + urls[:home], start_cursor)
            for who, member in (("admin", admin), ("agent", agent))
            for home in (0, 1)
        ]
        tasks += [asyncio.create_task(s.run(), name=f"subscriber {s.name}") for s in subscribers]

        # The load, and the faults while it runs.
        stop = asyncio.Event()
        load_started, load_started_wall = time.monotonic(), time.time()
        tasks += [asyncio.create_task(w.run(stop), name=f"writer {w.number}") for w in writers]
        seen = await _faults(stack, engine, load_started)
        # The wipe hit work in flight: jobs waiting in Redis that only the outbox still knew about.
        assert seen["redis_keys_wiped"] > 0 and seen["open_jobs_at_wipe"] > 0, seen
        stop.set()
        await asyncio.gather(*tasks[len(subscribers) :])
        load_seconds = time.monotonic() - load_started
        stack.note(load_started, "load stopped")

        # Everything it set in motion is done within the settle timeout...
        deadline = time.monotonic() + SETTLE_TIMEOUT
        done, state = await _settled(engine, account_pk, stack.receiver)
        while not done and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            done, state = await _settled(engine, account_pk, stack.receiver)
        settle_seconds = time.monotonic() - load_started - load_seconds
        if not done:
            _fail(f"not settled within {SETTLE_TIMEOUT:.0f}s: {state}", stack, tmp_path)
        # ...and stays done one lease and sweep later: nothing is resent, nothing left pending.
        await asyncio.sleep(LEASE_SECONDS + 2 * SWEEP_SECONDS)
        done, state = await _settled(engine, account_pk, stack.receiver)
        if not done or state["dead_jobs"]:
            _fail(f"not settled one sweep later: {state}", stack, tmp_path)

        # Every accepted write is in the database, once.
        accepted = [a for w in writers for a in w.accepted]
        gave_up = [g for w in writers for g in w.gave_up]
        assert not gave_up, gave_up
        messages = {
            r[0]: r[1]
            for r in await _rows(
                engine,
                "SELECT m.id, m.content FROM messages m JOIN conversations c "
                "ON c.id = m.conversation_id WHERE c.account_id = :a",
                a=account_pk,
            )
        }
        conversations = {
            r[0] for r in await _rows(engine, "SELECT id FROM conversations WHERE account_id = :a", a=account_pk)
        }
        lost = [
            a
            for a in accepted
            if (a.kind == "message" and messages.get(a.id) != a.content)
            or (a.kind == "conversation" and a.id not in conversations)
        ]
        assert not lost, lost
        # ...and nothing else: with every write answered ok in the end, a retry never wrote twice.
        contents = sorted(c for c in messages.values() if c.startswith("writer "))
        assert contents == sorted(a.content for a in accepted if a.kind == "message"), (
            "a retried message was written twice"
        )
        made = {a.id for a in accepted if a.kind == "conversation"} | {
            decode_id(w.first_conversation, "Conversation") for w in writers
        }
        assert conversations == made, f"conversations nobody was answered for: {sorted(conversations - made)}"

        # Every committed event a webhook wants reached the receiver, under one id with one body.
        events = await _rows(
            engine,
            f"SELECT e.id, e.position, e.type, e.created_at, {HOOKED}, m.message_type FROM events e "
            "LEFT JOIN messages m ON m.id = e.message_id WHERE e.account_id = :a ORDER BY e.position",
            a=account_pk,
        )
        deliveries = {
            r[0]: r[1]
            for r in await _rows(
                engine, "SELECT event_id, message_id FROM webhook_deliveries WHERE event_id IS NOT NULL"
            )
        }
        requests: dict[str, list] = {}
        for r in list(stack.receiver.requests):
            requests.setdefault(r.webhook_id, []).append(r)
        hooked = [e for e in events if e[4]]
        undelivered = [e for e in hooked if e[0] not in deliveries or deliveries[e[0]] not in requests]
        assert not undelivered, undelivered
        unstable = {k: len(v) for k, v in requests.items() if len({r.body for r in v}) != 1}
        assert not unstable, unstable
        assert len({deliveries[e[0]] for e in hooked}) == len(hooked), "two events under one webhook id"
        # Duplicate requests for one webhook id are allowed (at least once) and counted.
        duplicates = sum(len(v) - 1 for v in requests.values())

        # Notifications and reporting rows for every event that needs them.
        notified = {
            r[0]
            for r in await _rows(
                engine, "SELECT DISTINCT event_id FROM notifications WHERE account_id = :a", a=account_pk
            )
        }
        reported = {
            r[0]
            for r in await _rows(
                engine, "SELECT DISTINCT source_event_id FROM reporting_events WHERE account_id = :a", a=account_pk
            )
        }
        load_events = [e for e in events if e[1] > decode_id(start_cursor, "Event")]
        # An incoming message tells the assignee; every conversation and incoming message is a reporting row.
        incoming = [e for e in load_events if e[2] == "message.created" and e[5] == "incoming"]
        missing_notifications = [e[:3] for e in incoming if e[0] not in notified]
        missing_reports = [
            e[:3] for e in incoming + [e for e in load_events if e[2] == "conversation.created"] if e[0] not in reported
        ]
        assert not missing_notifications, missing_notifications
        assert not missing_reports, missing_reports

        # Every subscriber got exactly its stream's committed positions, in order, across its resumes.
        expected = [e[1] for e in load_events if realtime.in_account_stream(_Event(e[2]))]
        for s in subscribers:
            s.target = expected[-1] if expected else s.start
        await asyncio.wait_for(asyncio.gather(*tasks[: len(subscribers)]), timeout=60)
        # A subscriber may read on past its target before it stops: compare with the log as it is now,
        # up to the last position it received.
        committed = [
            (r[0], r[1])
            for r in await _rows(
                engine,
                "SELECT position, type FROM events WHERE account_id = :a "
                "AND position > :p AND recipient_user_id IS NULL ORDER BY position",
                a=account_pk,
                p=decode_id(start_cursor, "Event"),
            )
            if realtime.in_account_stream(_Event(r[1]))
        ]
        late = [c for c in committed if c[0] > expected[-1]]
        for s in subscribers:
            last = max(s.positions[-1] if s.positions else s.start, s.target)
            want = [p for p, _ in committed if p <= last]
            if s.positions != want:
                _fail(
                    f"{s.name} ({s.resumes} resumes): {_diff(s.positions, want)}; committed after the load: {late}",
                    stack,
                    tmp_path,
                )

        # Commit-to-arrival latency of the webhooks, for the record: overall, and by when the event
        # was committed (10 s of load each), to see which fault it waited for.
        created = {deliveries[e[0]]: e[3].timestamp() for e in hooked}
        latency = sorted(min(r.wall for r in requests[k]) - created[k] for k in created)
        by_phase: dict[int, list[float]] = {}
        for k, at in created.items():
            by_phase.setdefault(int((at - load_started_wall) // 10), []).append(min(r.wall for r in requests[k]) - at)
        phases = " ".join(f"{10 * b}s:{statistics.median(v):.1f}" for b, v in sorted(by_phase.items()) if b >= 0)
        [[jobs, sends]] = await _rows(engine, "SELECT count(*), sum(sends) FROM outbox_jobs")
        skipped = sum(w.output().count('"outbox.skipped_finished"') for w in stack.workers)
        (tmp_path / "processes.log").write_text(stack.outputs())
        total = time.monotonic() - suite_started
        with capsys.disabled():
            print(
                f"\nfault suite: {len(accepted)} accepted writes ({sum(a.tries > 1 for a in accepted)} needed a retry, "
                f"{sum(w.retries for w in writers)} retries), {len(hooked)} webhook events, {duplicates} duplicate "
                f"requests, {len(expected)} stream events x {len(subscribers)} subscribers "
                f"({sum(s.resumes for s in subscribers)} resumes; {len(late)} committed after the load: "
                f"{sorted({t for _, t in late})}); "
                f"redis wiped with {seen['redis_keys_wiped']} keys / {seen['open_jobs_at_wipe']} open jobs"
            )
            print(
                f"fault suite: load {load_seconds:.0f}s, settled {settle_seconds:.1f}s after, whole test {total:.0f}s; "
                f"webhooks {len(hooked) / load_seconds:.1f}/s, commit->delivery p50 {statistics.median(latency):.2f}s "
                f"p99 {_percentile(latency, 0.99):.2f}s max {latency[-1]:.2f}s"
            )
            print(
                f"fault suite: outbox {jobs} jobs sent {sends} times ({sends - jobs} resends), "
                f"{skipped} copies of finished jobs skipped"
            )
            print(f"fault suite: webhook latency p50 by commit time (s into the load: s) {phases}")
    finally:
        with capsys.disabled():
            for line in stack.log:
                print(f"fault suite: {line}")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.aclose()
        await engine.dispose()


@dataclass
class _Event:  # what realtime.in_account_stream reads
    type: str


class _Admin:  # what create_webhook needs
    def __init__(self, gql: GraphQLHTTP, admin: Member) -> None:
        self.gql, self.admin = gql, admin

    async def data(self, who, document, variables=None):
        return await self.gql.data(document, variables, headers=who.headers())


def _fail(message: str, stack: Stack, tmp_path) -> None:
    """Fail with the processes' output kept beside the test: what they logged says why."""
    path = tmp_path / "processes.log"
    path.write_text(stack.outputs())
    pytest.fail(f"{message}\nfaults: {stack.log}\nprocess output: {path}", pytrace=False)


def _diff(got: list[int], want: list[int]) -> dict:
    got_set, want_set = set(got), set(want)
    return {
        "missing": sorted(want_set - got_set)[:20],
        "unexpected": sorted(got_set - want_set)[:20],
        "out_of_order": [b for a, b in zip(got, got[1:], strict=False) if b <= a][:20],
        "got": len(got),
        "want": len(want),
    }
