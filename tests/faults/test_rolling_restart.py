"""The scale test: three `parley serve` processes and two `parley worker`s behind a real load balancer
(HAProxy on loopback: health checks on /readyz, WebSocket upgrades passed through), and a rolling
restart of every API process under load, as a Kubernetes Deployment with `maxSurge: 1` and
`maxUnavailable: 0` does it: start the replacement, wait until the balancer sees it ready, take the
old one out of the endpoints (drain), wait the preStop moment, SIGTERM it and wait for it to exit.

What must hold: no request failed beyond ones retried (writers retry with their `Idempotency-Key`,
readers simply again) and nothing was written twice; every subscriber was told 1012 when its
process went away, resumed through the balancer by cursor and got every event of its stream exactly
once, in order; every webhook event reached the receiver exactly once; no outbox job is left open.

It runs alone (`alone`, `faults`): its own PostgreSQL cluster and Redis, five processes and a
balancer on a 2-core machine. Without HAProxy (`scripts/test` installs Debian's package as root)
it is skipped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import websockets

from db.session import create_engine
from domain import realtime
from schema.core.ids import decode_id
from tests.faults.test_fault_suite import (
    CONVERSATION,
    HOOKED,
    SUBSCRIPTION,
    ApiProcess,
    Writer,
    _Admin,
    _diff,
    _env,
    _Event,
    _migrate,
    _rows,
    _settled,
)
from tests.support.accounts import Member, add_agent, signup
from tests.support.cluster import PostgresCluster
from tests.support.desk import ERR, user_id
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.haproxy import HAProxy, haproxy_binary
from tests.support.receiver import Receiver
from tests.support.redis_proc import RedisProcess
from tests.test_webhooks import create_webhook
from tests.test_worker_runtime import WorkerProcess

pytestmark = [
    pytest.mark.faults,
    pytest.mark.alone,
    pytest.mark.skipif(
        haproxy_binary() is None,
        reason="HAProxy is not installed (scripts/test installs Debian's haproxy when run as root)",
    ),
]

API_PROCESSES = 3
WORKERS = 2
WRITERS = 4
READERS = 2
PRESTOP_SECONDS = 1.0  # the endpoint is gone from the balancer this long before SIGTERM
SHUTDOWN_SECONDS = 5.0  # PARLEY_SHUTDOWN_TIMEOUT_SECONDS
SETTLE_TIMEOUT = 180.0  # seconds for the workers to finish what the load queued (a few on an idle machine)
# Nothing here kills a worker, so no job needs its lease to expire to be sent again; a lease as short
# as the fault suite's (4 s) would resend jobs merely waiting behind the load's backlog, and the
# receiver would get those webhooks twice (at least once is the contract; this test wants once).
LEASE_SECONDS = "30"
START_TIMEOUT = 240.0  # a process's start (imports dominate) on a busy machine; seconds on an idle one
LIST = "query { conversations(first: 10) { edges { node { id } } } }"


@dataclass
class Deployment:
    pg: PostgresCluster
    redis: RedisProcess
    receiver: Receiver
    balancer: HAProxy
    api_env: dict[str, str]
    apis: dict[str, ApiProcess] = field(default_factory=dict)  # by the balancer's server name
    retired: list[ApiProcess] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def outputs(self) -> str:
        parts = [f"--- api {name}\n{api.read_output()}" for name, api in self.apis.items()]
        parts += [f"--- retired api {i}\n{api.read_output()}" for i, api in enumerate(self.retired)]
        parts += [f"--- worker {i}\n{w.output()}" for i, w in enumerate(self.workers)]
        parts.append(f"--- haproxy\n{self.balancer.output()}")
        return "\n".join(parts)


@pytest.fixture
def deployment(smtp_server, tmp_path) -> Iterator[Deployment]:
    with contextlib.ExitStack() as cleanup:
        pg = cleanup.enter_context(PostgresCluster())
        _migrate(pg.url)
        redis = RedisProcess().start()
        cleanup.callback(redis.stop)
        receiver = cleanup.enter_context(Receiver())
        namespace = f"parley-scale-{uuid.uuid4().hex[:6]}"
        api_env = _env(
            pg,
            redis,
            smtp_server,
            namespace,
            str(tmp_path / "api"),
            PARLEY_SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_SECONDS),
            PARLEY_DATABASE_POOL_SIZE="5",
            PARLEY_DATABASE_MAX_OVERFLOW="5",
            # Behind the balancer: the client is named by X-Forwarded-For from loopback.
            PARLEY_FORWARDED_ALLOW_IPS="127.0.0.1",
            PARLEY_OUTBOX_LEASE_SECONDS=LEASE_SECONDS,
        )
        apis = {f"api{i}": ApiProcess(api_env) for i in range(API_PROCESSES)}
        for api in apis.values():
            cleanup.callback(api.stop)
        _start_all(list(apis.values()))
        balancer = HAProxy({name: api.port for name, api in apis.items()}).start()
        cleanup.callback(balancer.stop)
        built = Deployment(pg, redis, receiver, balancer, api_env, apis)
        cleanup.callback(lambda: [api.stop() for api in built.apis.values()])
        worker_env = _env(
            pg,
            redis,
            smtp_server,
            namespace,
            str(tmp_path / "worker"),
            PARLEY_LOG_LEVEL="INFO",
            PARLEY_WORKER_THREADS="4",
            PARLEY_OUTBOX_LEASE_SECONDS=LEASE_SECONDS,
        )
        for _ in range(WORKERS):
            worker = WorkerProcess(worker_env)
            built.workers.append(worker)
            cleanup.callback(worker.stop)
        _start_all(built.workers)
        for name in apis:
            balancer.wait_up(name)
        yield built


def _start_all(processes: list) -> None:
    """Start processes side by side (each start waits until its process answers)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(processes)) as pool:
        for future in [pool.submit(p.start, START_TIMEOUT) for p in processes]:
            future.result()


# --- clients -------------------------------------------------------------------------------------------


class Reader:
    """An agent reading the conversation list through the balancer; a failed read is read again."""

    def __init__(self, client: GraphQLHTTP, member: Member) -> None:
        self.client, self.member = client, member
        self.reads = 0
        self.retried = 0
        self.failed: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for attempt in range(20):
                try:
                    resp = await self.client.post(LIST, headers=self.member.headers())
                    body = resp.json() if resp.status_code == 200 else None
                    if body is not None and not body.get("errors"):
                        self.reads += 1
                        break
                    last = f"{resp.status_code} {resp.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    last = repr(exc)[:200]
                self.retried += 1
                await asyncio.sleep(0.1 * (attempt + 1))
            else:
                self.failed.append(last)
            await asyncio.sleep(0.05)


class Subscriber:
    """An `accountEvents` stream through the balancer that, whenever its socket closes, connects again
    (to whichever process the balancer picks) and resumes with `after` = its last cursor."""

    def __init__(self, name: str, member: Member, url: str, start_cursor: str) -> None:
        self.name, self.member, self.url = name, member, url
        self.start = decode_id(start_cursor, "Event")
        self.cursor = start_cursor
        self.positions: list[int] = []
        self.close_codes: list[int | None] = []
        self.failures: list[str] = []  # a connection that could not be opened, or a stream that errored
        self.target: int | None = None

    def caught_up(self) -> bool:
        return self.target is not None and (self.positions[-1] if self.positions else self.start) >= self.target

    async def run(self) -> None:
        while not self.caught_up():
            sock = SubscriptionSocket(
                self.url, payload={"token": self.member.access, "accountId": self.member.account_id}
            )
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
                        self.failures.append(str(msg)[:300])
                        break
                    item = msg["payload"]["data"]["accountEvents"]
                    if item["type"] == "presence.changed":
                        continue  # ephemeral: not in the log
                    self.positions.append(decode_id(item["cursor"], "Event"))
                    self.cursor = item["cursor"]
            except websockets.ConnectionClosed as exc:
                self.close_codes.append(exc.rcvd.code if exc.rcvd is not None else None)
            except (OSError, TimeoutError, websockets.InvalidHandshake, AssertionError) as exc:
                self.failures.append(repr(exc)[:300])
            finally:
                with contextlib.suppress(Exception):
                    await sock.close()
            await asyncio.sleep(0.1)


# --- the rollout ---------------------------------------------------------------------------------------


async def _rolling_restart(dep: Deployment, started: float) -> list[float]:
    """Replace every API process, one at a time; returns how long each old process took to exit."""
    exits = []
    for generation, old_name in enumerate(list(dep.apis), start=API_PROCESSES):
        new_name = f"api{generation}"
        new = ApiProcess(dep.api_env)
        await asyncio.to_thread(new.start, START_TIMEOUT)
        dep.balancer.add_server(new_name, new.port)
        await asyncio.to_thread(dep.balancer.wait_up, new_name)
        dep.apis[new_name] = new
        dep.log.append(f"{time.monotonic() - started:5.1f}s {new_name} ready")

        old = dep.apis.pop(old_name)
        dep.balancer.drain(old_name)
        await asyncio.sleep(PRESTOP_SECONDS)
        signalled = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(old.proc.wait, SHUTDOWN_SECONDS + 15)
        exits.append(time.monotonic() - signalled)
        dep.retired.append(old)
        dep.balancer.remove(old_name)
        dep.log.append(f"{time.monotonic() - started:5.1f}s {old_name} exited {code} after SIGTERM ({exits[-1]:.1f}s)")
        # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done.
        assert code in (0, -signal.SIGTERM), f"{old_name} exited with {code}: {old.read_output()[-2000:]}"
        await asyncio.sleep(1.0)
    return exits


async def test_a_rolling_restart_under_load_loses_nothing(deployment: Deployment, smtp, capsys, tmp_path):
    dep = deployment
    test_started = time.monotonic()
    lb = GraphQLHTTP(dep.balancer.url)
    lb.client.timeout = httpx.Timeout(15)
    engine = create_engine(dep.pg.url, pool_size=2, max_overflow=2)
    tasks: list[asyncio.Task] = []
    try:
        admin = await signup(lb, account="Scale")
        agent = await add_agent(lb, admin, smtp)
        inbox = await lb.data(
            f'mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        inbox_id = inbox["inboxCreate"]["inbox"]["id"]
        agent_id = await user_id(lb, agent)
        body = await lb.data(
            f"mutation($i: ID!, $u: [ID!]!) {{ inboxMembersSet(id: $i, userIds: $u) {{ inbox {{ id }} {ERR} }} }}",
            {"i": inbox_id, "u": [agent_id]},
            headers=admin.headers(),
        )
        assert body["inboxMembersSet"]["errors"] == [], body
        contact = await lb.data(
            f'mutation {{ contactCreate(input: {{name: "Kim Scale"}}) {{ contact {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        contact_id = contact["contactCreate"]["contact"]["id"]
        await create_webhook(_Admin(lb, admin), dep.receiver.url, ["MESSAGE_CREATED", "CONVERSATION_CREATED"])
        account_pk = decode_id(admin.account_id, "Account")

        writers = []
        for number in range(WRITERS):
            body = await lb.data(CONVERSATION, {"i": inbox_id, "c": contact_id, "a": agent_id}, headers=admin.headers())
            conversation = body["conversationCreate"]["conversation"]["id"]
            writers.append(Writer(number, [lb], admin, inbox_id, contact_id, agent_id, conversation))
        readers = [Reader(lb, member) for member in (admin, agent)][:READERS]

        start_cursor = (await lb.data("{ eventCursor }", headers=agent.headers()))["eventCursor"]
        subscribers = [
            Subscriber(f"{who} {n}", member, dep.balancer.ws_url, start_cursor)
            for who, member in (("admin", admin), ("agent", agent))
            for n in range(2)
        ]
        tasks += [asyncio.create_task(s.run(), name=f"subscriber {s.name}") for s in subscribers]

        stop = asyncio.Event()
        load_started = time.monotonic()
        load = [asyncio.create_task(w.run(stop), name=f"writer {w.number}") for w in writers]
        load += [asyncio.create_task(r.run(stop), name="reader") for r in readers]
        tasks += load
        await asyncio.sleep(3)
        exits = await _rolling_restart(dep, load_started)
        await asyncio.sleep(3)
        stop.set()
        await asyncio.gather(*load)
        load_seconds = time.monotonic() - load_started

        # No request failed for good; every accepted write is in the database once.
        gave_up = [g for w in writers for g in w.gave_up] + [f for r in readers for f in r.failed]
        assert not gave_up, gave_up
        accepted = [a for w in writers for a in w.accepted]
        assert len(accepted) > 50, f"the load wrote only {len(accepted)} times"
        messages = await _rows(
            engine,
            "SELECT m.id, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.account_id = :a AND m.content LIKE 'writer %'",
            a=account_pk,
        )
        assert sorted(r[1] for r in messages) == sorted(a.content for a in accepted if a.kind == "message"), (
            "a message is missing or was written twice"
        )

        # Everything the load set in motion is done: no open outbox job, no pending delivery.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        done, state = await _settled(engine, account_pk, dep.receiver)
        while not done and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            done, state = await _settled(engine, account_pk, dep.receiver)
        if not done or state["dead_jobs"]:
            _fail(f"not settled within {SETTLE_TIMEOUT:.0f}s: {state}", dep, tmp_path)

        # Every webhook event reached the receiver exactly once.
        events = await _rows(
            engine,
            f"SELECT e.id, e.position, e.type, {HOOKED} FROM events e LEFT JOIN messages m ON m.id = e.message_id "
            "WHERE e.account_id = :a ORDER BY e.position",
            a=account_pk,
        )
        deliveries = dict(
            await _rows(engine, "SELECT event_id, message_id FROM webhook_deliveries WHERE event_id IS NOT NULL")
        )
        received: dict[str, int] = {}
        for r in list(dep.receiver.requests):
            received[r.webhook_id] = received.get(r.webhook_id, 0) + 1
        hooked = [e for e in events if e[3]]
        counts = {e[0]: received.get(deliveries.get(e[0], ""), 0) for e in hooked}
        assert hooked and all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}

        # Every subscriber got exactly its stream's committed positions, in order, across its resumes,
        # and every socket the rollout closed was closed with 1012.
        start = decode_id(start_cursor, "Event")
        expected = [e[1] for e in events if e[1] > start and realtime.in_account_stream(_Event(e[2]))]
        for s in subscribers:
            s.target = expected[-1]
        await asyncio.wait_for(asyncio.gather(*tasks[: len(subscribers)]), timeout=30)
        committed = [
            r[0]
            for r in await _rows(
                engine,
                "SELECT position, type FROM events WHERE account_id = :a AND position > :p "
                "AND recipient_user_id IS NULL ORDER BY position",
                a=account_pk,
                p=start,
            )
            if realtime.in_account_stream(_Event(r[1]))
        ]
        for s in subscribers:
            last = max(s.positions[-1] if s.positions else s.start, s.target)
            want = [p for p in committed if p <= last]
            if s.positions != want:
                _fail(f"{s.name}: {_diff(s.positions, want)}", dep, tmp_path)
            assert s.close_codes and set(s.close_codes) == {1012}, (s.name, s.close_codes, s.failures)
            assert not s.failures, (s.name, s.failures)

        total = time.monotonic() - test_started
        with capsys.disabled():
            print(
                f"\nscale test: {len(accepted)} writes ({sum(a.tries > 1 for a in accepted)} retried), "
                f"{sum(r.reads for r in readers)} list reads ({sum(r.retried for r in readers)} retried), "
                f"{len(hooked)} webhooks once each, {len(expected)} stream events x {len(subscribers)} subscribers "
                f"({sum(len(s.close_codes) for s in subscribers)} resumes after 1012); "
                f"old processes exited {', '.join(f'{e:.1f}s' for e in exits)} after SIGTERM; "
                f"load {load_seconds:.0f}s, whole test {total:.0f}s"
            )
            for line in dep.log:
                print(f"scale test: {line}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await lb.aclose()
        await engine.dispose()


def _fail(message: str, dep: Deployment, tmp_path) -> None:
    path = tmp_path / "processes.log"
    path.write_text(dep.outputs())
    pytest.fail(f"{message}\nrollout: {dep.log}\nprocess output: {path}", pytrace=False)
