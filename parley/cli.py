"""The `parley` command: serve, worker, status, db upgrade/downgrade, export-schema, seed-demo, import, sync."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from pathlib import Path

from infra.settings import ConfigurationError, Settings, load_settings


class CommandError(Exception):
    """Ends the command with one line on stderr and exit status 2."""


def _settings() -> Settings:
    settings = load_settings()
    settings.check_production()
    return settings


def _setup_logging(settings: Settings) -> None:
    from infra.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)


async def _probe_database(url: str) -> None:
    from sqlalchemy import text

    from db.session import create_engine

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with asyncio.timeout(10):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def check_database(settings: Settings) -> None:
    try:
        asyncio.run(_probe_database(settings.effective_database_url))
    except Exception as exc:  # noqa: BLE001 - reported as one line
        from urllib.parse import urlsplit

        parts = urlsplit(settings.effective_database_url)
        where = f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandError(f"cannot reach the database at {where}: {reason}") from None


async def _probe_redis(url: str) -> None:
    from infra.broadcast import make_redis

    client = make_redis(url)
    try:
        async with asyncio.timeout(10):
            await client.ping()
    finally:
        await client.aclose()


def _redis_where(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)  # no password in the message
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_redis(settings: Settings) -> None:
    if not settings.uses_redis:
        return
    try:
        asyncio.run(_probe_redis(settings.redis_url))
    except Exception as exc:  # noqa: BLE001 - reported as one line
        raise CommandError(f"cannot reach Redis at {_redis_where(settings.redis_url)}: {_reason(exc)}") from None


def migrate(settings: Settings) -> None:
    from db.migrate import upgrade

    if settings.is_sqlite:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    _setup_logging(settings)
    if settings.is_sqlite:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    check_database(settings)
    check_redis(settings)
    # The demo needs the tables, whatever the database: `scripts/start` may point at PostgreSQL.
    if settings.is_sqlite or args.migrate or args.demo:
        migrate(settings)
    if args.demo:
        from parley.demo import demo_widget_token, describe_demo, seed_demo

        credentials = asyncio.run(seed_demo(settings))
        print(describe_demo(settings, credentials, asyncio.run(demo_widget_token(settings))), flush=True)
    from parley.app import create_app
    from parley.ws_protocol import uvicorn_options

    app = create_app(settings)
    app.state.settle_heap = True  # a long-lived server process (parley.app.settle_heap)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Only proxies the operator names may say who the client is; uvicorn's own default trusts
        # 127.0.0.1 (and reads FORWARDED_ALLOW_IPS), so it is always set here.
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or [],
        **uvicorn_options(),  # the WebSocket protocol, uncompressed (parley/ws_protocol.py)
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    import dramatiq

    from workers.broker import QUEUES, configure_broker

    settings = _settings()
    _setup_logging(settings)
    check_database(settings)
    check_redis(settings)
    from infra import traces

    traces.start(settings)
    broker = configure_broker(settings)
    queues = set(args.queues.split(",")) if args.queues else set(QUEUES)
    unknown = queues - set(QUEUES)
    if unknown:
        raise CommandError(f"unknown queue(s): {', '.join(sorted(unknown))}; known: {', '.join(QUEUES)}")
    from workers import runtime

    runtime.init_resources(settings, broker)
    worker = dramatiq.Worker(
        broker,
        queues=queues,
        worker_threads=args.threads or settings.worker_threads,
        worker_timeout=settings.worker_idle_poll_ms,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    scheduler_thread = None
    if not args.no_scheduler:
        scheduler_thread = threading.Thread(target=_run_scheduler, args=(settings, broker, stop), daemon=True)
        scheduler_thread.start()
    from infra.logs import get_logger

    get_logger("parley.worker").info("worker.started", queues=sorted(queues), scheduler=not args.no_scheduler)
    stop.wait()
    # Graceful: running jobs may finish within the timeout; prefetched ones return to their queue,
    # and a job cut off at the timeout is requeued by the broker once this worker's heartbeat is stale.
    get_logger("parley.worker").info("worker.stopping", timeout_seconds=settings.worker_shutdown_timeout_seconds)
    worker.stop(timeout=int(settings.worker_shutdown_timeout_seconds * 1000))
    get_logger("parley.worker").info("worker.stopped")
    if scheduler_thread is not None:
        scheduler_thread.join(timeout=10)
    traces.stop()  # flushes the spans still buffered


def _run_scheduler(settings: Settings, broker, stop: threading.Event) -> None:
    from db.session import create_engine, create_session_factory
    from workers.scheduler import standard_scheduler

    async def main() -> None:
        from infra.broadcast import PrefixedPublisher, channel_prefix, make_redis

        engine = create_engine(settings.effective_database_url, pool_size=2, max_overflow=0)
        publisher = (
            PrefixedPublisher(make_redis(settings.redis_url), channel_prefix(settings.redis_url))
            if settings.uses_redis
            else None
        )
        scheduler = standard_scheduler(create_session_factory(engine), broker, publisher)
        scheduler.start()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.5)
        finally:
            await scheduler.stop()
            await engine.dispose()
            if publisher is not None:
                await publisher.aclose()

    asyncio.run(main())


def cmd_mail_in(args: argparse.Namespace) -> None:
    from parley import mail_in

    settings = _settings()
    _setup_logging(settings)
    check_database(settings)
    if settings.uses_redis:
        check_redis(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(mail_in.serve(settings, host=args.host, port=args.port))


def cmd_db(args: argparse.Namespace) -> None:
    from db.migrate import downgrade

    settings = _settings()
    check_database(settings)
    if args.db_command == "upgrade":
        from db.migrate import upgrade

        if settings.is_sqlite:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        upgrade(settings.effective_database_url, args.revision)
    else:
        downgrade(settings.effective_database_url, args.revision)
    print(f"database {args.db_command}d to {args.revision}")


def export_schema_sdl() -> str:
    from schema.root import schema

    return schema.as_str().rstrip() + "\n"


def cmd_export_schema(args: argparse.Namespace) -> None:
    sdl = export_schema_sdl()
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl)
        print(f"wrote {args.output}")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    from parley.demo import demo_widget_token, describe_demo, seed_demo

    settings = _settings()
    check_database(settings)
    migrate(settings)
    credentials = asyncio.run(seed_demo(settings))
    print(describe_demo(settings, credentials, asyncio.run(demo_widget_token(settings))))


async def _status_report(settings: Settings) -> tuple[list[str], bool]:
    """What an operator asks first: can Parley reach its database and Redis, is a worker running, and
    how much work waits. Returns the lines and whether everything needed is reachable."""
    import time

    from sqlalchemy import func, select

    from db.models import Event, OutboxJob
    from db.session import create_engine
    from workers.broker import QUEUES

    lines: list[str] = []
    healthy = True
    engine = create_engine(settings.effective_database_url, pool_size=1, max_overflow=0)
    try:
        async with asyncio.timeout(10):
            async with engine.connect() as conn:
                await conn.execute(select(1))
                lines.append(f"database: ok ({engine.dialect.name})")
                try:
                    jobs = await conn.scalar(
                        select(func.count()).select_from(OutboxJob).where(OutboxJob.completed_at.is_(None))
                    )
                    events = await conn.scalar(
                        select(func.count()).select_from(Event).where(Event.relayed_at.is_(None))
                    )
                    lines.append(f"outbox: {jobs} job(s) not yet done, {events} event(s) not yet relayed")
                except Exception:  # noqa: BLE001 - an empty database
                    healthy = False
                    lines.append("outbox: no tables yet (run `parley db upgrade`)")
    except Exception as exc:  # noqa: BLE001 - reported as a line
        healthy = False
        lines.append(f"database: unreachable ({_reason(exc)})")
    finally:
        await engine.dispose()
    if not settings.uses_redis:
        lines.append("redis: not configured (in-memory broadcast; jobs run inside `parley serve`)")
        return lines, healthy
    from infra.broadcast import make_redis
    from workers.heartbeat import missing_worker_problem, read_queue_depths, read_workers

    client = make_redis(settings.redis_url)
    try:
        async with asyncio.timeout(10):
            await client.ping()
            seen = await read_workers(client, settings.dramatiq_namespace)
            depths = await read_queue_depths(client, settings.dramatiq_namespace, QUEUES)
    except Exception as exc:  # noqa: BLE001 - reported as a line
        lines.append(f"redis: unreachable at {_redis_where(settings.redis_url)} ({_reason(exc)})")
        return lines, False
    finally:
        await client.aclose()
    lines.append(f"redis: ok ({_redis_where(settings.redis_url)})")
    where = "in process (PARLEY_WORKER_IN_PROCESS)" if settings.run_worker_in_process else "`parley worker` processes"
    problem = missing_worker_problem(seen, settings.worker_missing_after_seconds)
    lines.append(f"workers: {len(seen)} seen, jobs run {where}" + (f"; {problem}" if problem else ""))
    now = time.time()
    for w in seen:
        lines.append(f"  {w.host} pid {w.pid}: last seen {w.age(now):.0f} s ago, queues {','.join(w.queues)}")
    lines.append("queues:")
    for d in depths:
        lines.append(f"  {d.queue:<9} waiting {d.waiting}, delayed {d.delayed}, dead {d.dead}")
    return lines, healthy


def cmd_status(args: argparse.Namespace) -> None:
    settings = _settings()
    lines, healthy = asyncio.run(_status_report(settings))
    print("\n".join(lines), flush=True)
    if not healthy:
        raise CommandError("not ready: see the lines above")


def cmd_partner_manifest(args: argparse.Namespace) -> None:
    """Upload a manifest through the API, as an administrator's token (works against any deployment)."""
    import json
    import urllib.error
    import urllib.request

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    url = (args.url or load_settings().base_url).rstrip("/") + "/graphql"
    query = """mutation($input: PartnerManifestUploadInput!) { partnerManifestUpload(input: $input) {
      manifest { version operationCount } invalidOperations { documentId name messages } errors { field code message } } }"""
    body = json.dumps(
        {
            "query": query,
            "variables": {"input": {"partnerAppId": args.app, "manifest": text, "skipInvalid": args.skip_invalid}},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Bearer {args.token}",
    }
    if args.account:
        headers["X-Parley-Account"] = args.account
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # the operator's own URL
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise CommandError(f"{url} answered HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    if answer.get("errors"):
        raise CommandError(
            "; ".join(f"{e['message']} ({e.get('extensions', {}).get('code')})" for e in answer["errors"])
        )
    payload = answer["data"]["partnerManifestUpload"]
    for op in payload["invalidOperations"]:
        print(f"invalid: {op['documentId']} ({op['name'] or 'unnamed'}): {'; '.join(op['messages'])}", file=sys.stderr)
    if payload["errors"]:
        raise CommandError("; ".join(e["message"] for e in payload["errors"]))
    manifest = payload["manifest"]
    print(f"manifest version {manifest['version']} is current: {manifest['operationCount']} operation(s)")


def cmd_import_chatwoot(args: argparse.Namespace) -> None:
    import json

    from db.session import create_engine
    from domain.migration.chatwoot.importer import DEFAULT_BATCH, DEFAULT_LANES, Importer, SourceError

    settings = _settings()
    _setup_logging(settings)
    if settings.is_sqlite:
        raise CommandError("importing needs Parley on PostgreSQL (set PARLEY_DATABASE_URL)")
    check_database(settings)
    if args.storage_dir and not Path(args.storage_dir).is_dir():
        raise CommandError(f"--storage-dir {args.storage_dir} is not a directory")

    async def main():
        lanes = max(1, args.parallel or DEFAULT_LANES)
        engine = create_engine(settings.effective_database_url, pool_size=1 + lanes, max_overflow=0)
        try:
            importer = Importer(
                engine,
                settings,
                args.source,
                account=args.account,
                batch_size=args.batch_size or DEFAULT_BATCH,
                storage_dir=args.storage_dir,
                pause=args.pause,
                progress=sys.stderr,
                lanes=lanes,
            )
            return await importer.run()
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(main())
    except SourceError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps({"reconciles": report.reconciles, "new_rows": report.new_rows, "tables": report.summary()}))
    else:
        print(report.render(), flush=True)
    if not report.reconciles:
        raise CommandError("the import does not reconcile: see the report")


def cmd_import_chatwoot_rollback(args: argparse.Namespace) -> None:
    from db.session import create_engine
    from domain.migration.chatwoot.rollback import NothingToRollBack, rollback_account

    settings = _settings()
    check_database(settings)

    async def main():
        engine = create_engine(settings.effective_database_url, pool_size=1, max_overflow=0)
        try:
            return await rollback_account(engine, settings, args.source, args.account)
        finally:
            await engine.dispose()

    try:
        done = asyncio.run(main())
    except NothingToRollBack as exc:
        raise CommandError(str(exc)) from None
    print(
        f"dropped Parley account {done.account_id} (Chatwoot account {args.account}), "
        f"{done.users_dropped} user(s) left in no account, {done.files_dropped} file(s)"
    )


def cmd_sync_chatwoot(args: argparse.Namespace) -> None:
    from db.session import create_engine, create_session_factory
    from domain.events.relay import Relay
    from domain.migration.chatwoot.importer import SourceError
    from domain.migration.chatwoot.sync import Bridge
    from infra.logs import get_logger

    settings = _settings()
    _setup_logging(settings)
    check_database(settings)
    check_redis(settings)
    log = get_logger("parley.sync")

    async def main() -> None:
        from infra.broadcast import PrefixedPublisher, channel_prefix, make_redis

        engine = create_engine(settings.effective_database_url, pool_size=2, max_overflow=0)
        publisher = (
            PrefixedPublisher(make_redis(settings.redis_url), channel_prefix(settings.redis_url))
            if settings.uses_redis
            else None
        )
        # Events go to the broadcast at once; their jobs (webhooks, notifications) are sent by the
        # outbox sweeper of a running `parley worker`.
        relay = Relay(create_session_factory(engine), None, publisher, settings.outbox_lease_seconds)
        bridge = Bridge(engine, settings, args.source, relay, account=args.account)
        try:
            while True:
                result = await bridge.poll_once()
                log.info("sync.polled", structural_rows=result.structural_rows, messages=result.messages)
                print(f"carried {result.messages} message(s), {result.structural_rows} other row(s)", flush=True)
                if args.once:
                    return
                await asyncio.sleep(args.interval)
        finally:
            await engine.dispose()
            if publisher is not None:
                await publisher.aclose()

    try:
        asyncio.run(main())
    except SourceError as exc:
        raise CommandError(str(exc)) from None


def cmd_contacts_import(args: argparse.Namespace) -> None:
    from db.models import Account
    from db.session import create_engine, create_session_factory
    from domain.errors import ValidationError
    from domain.events.relay import Relay
    from domain.events.unit import unit_of_work
    from domain.helpdesk import contact_csv

    settings = _settings()
    _setup_logging(settings)
    check_database(settings)
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"{args.file} is not a file")
    data = path.read_bytes()
    out = sys.stderr
    end = "\r" if out.isatty() else "\n"

    def progress(row) -> None:
        width = 30
        filled = width * row.processed // max(row.total, 1)
        print(
            f"[{'#' * filled}{'.' * (width - filled)}] {row.processed}/{row.total} rows  "
            f"created {row.created}  updated {row.updated}  unchanged {row.unchanged}  failed {row.failed}",
            end=end,
            file=out,
            flush=True,
        )

    async def main():
        engine = create_engine(settings.effective_database_url, pool_size=2, max_overflow=0)
        sessions = create_session_factory(engine)
        relay = Relay(sessions, None, None, settings.outbox_lease_seconds)  # the sweepers send what it causes

        def unit():
            return unit_of_work(sessions, relay)

        try:
            async with unit() as session:
                if await session.get(Account, args.account) is None:
                    raise CommandError(f"no account {args.account}")
                row = await contact_csv.create_import(
                    session, account_id=args.account, user_id=None, data=data, dry_run=args.dry_run, storage=None
                )
            return await contact_csv.run_import(unit, row.id, data, on_progress=progress)
        finally:
            await engine.dispose()

    try:
        done = asyncio.run(main())
    except ValidationError as exc:
        raise CommandError("; ".join(e.message for e in exc.errors)) from None
    if end == "\r":
        print(file=out)
    assert done is not None
    for error in done.errors:
        print(f"row {error['row']}: {error['field'] or '-'} {error['code']}: {error['message']}", file=out)
    verb = "would be " if done.dry_run else ""
    print(
        f"{done.processed} rows: {done.created} {verb}created, {done.updated} {verb}updated, "
        f"{done.unchanged} unchanged, {done.failed} refused"
    )


def cmd_superadmin_grant(args: argparse.Namespace) -> None:
    from db.session import create_engine, create_session_factory
    from domain.errors import NotFound
    from domain.events.relay import Relay
    from domain.events.unit import unit_of_work
    from domain.installation import service as installation

    settings = _settings()
    _setup_logging(settings)
    check_database(settings)

    class Publisher:
        """Announces the change (AUTH_CHANGED) so running API processes forget cached credentials."""

        def __init__(self) -> None:
            from infra.broadcast import channel_prefix, make_redis

            self.redis = make_redis(settings.redis_url)
            self.prefix = channel_prefix(settings.redis_url)

        async def publish(self, channel: str, message: str) -> None:
            await self.redis.publish(self.prefix + channel, message)

    async def main():
        engine = create_engine(settings.effective_database_url, pool_size=2, max_overflow=0)
        sessions = create_session_factory(engine)
        publisher = Publisher() if settings.uses_redis else None
        try:
            relay = Relay(sessions, None, publisher, settings.outbox_lease_seconds)
            async with unit_of_work(sessions, relay) as session:
                return await installation.grant_super_admin(session, args.email)
        finally:
            await engine.dispose()
            if publisher is not None:
                await publisher.redis.aclose()

    try:
        granted = asyncio.run(main())
    except NotFound as exc:
        raise CommandError(exc.message) from None
    print(f"{granted.email} is {'now' if granted.changed else 'already'} a super admin of this installation")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="Parley, a GraphQL-first helpdesk API server.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server (GraphQL over HTTP and WebSocket)")
    serve.add_argument("--host", help="bind address (default PARLEY_HOST)")
    serve.add_argument("--port", type=int, help="port (default PARLEY_PORT)")
    serve.add_argument("--demo", action="store_true", help="create the demo account if missing and print its logins")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first (always on SQLite)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background jobs from the Redis broker")
    worker.add_argument("--queues", help="comma-separated queues (default: all)")
    worker.add_argument("--threads", type=int, help="job threads (default PARLEY_WORKER_THREADS)")
    worker.add_argument("--no-scheduler", action="store_true", help="do not run the periodic jobs in this process")
    worker.set_defaults(func=cmd_worker)

    mail_in = sub.add_parser("mail-in", help="receive customer email over SMTP (MX or forwarding) into email inboxes")
    mail_in.add_argument("--host", help="bind address (default PARLEY_MAIL_IN_HOST)")
    mail_in.add_argument("--port", type=int, help="port (default PARLEY_MAIL_IN_PORT, 2525)")
    mail_in.set_defaults(func=cmd_mail_in)

    status = sub.add_parser("status", help="database and Redis reachability, workers seen, jobs waiting per queue")
    status.set_defaults(func=cmd_status)

    db = sub.add_parser("db", help="database migrations")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    down = dbsub.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision", nargs="?", default="-1")
    db.set_defaults(func=cmd_db)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", "-o", default="schema.graphql", help="file, or - for stdout")
    export.set_defaults(func=cmd_export_schema)

    partner = sub.add_parser("partner-manifest", help="manage partner apps' operation manifests")
    partner_sub = partner.add_subparsers(dest="partner_command", required=True)
    upload = partner_sub.add_parser(
        "upload", help="upload a manifest (Apollo persisted query manifest or Relay {id: body} JSON) as the new version"
    )
    upload.add_argument("file", help="the manifest's JSON file")
    upload.add_argument("--app", required=True, help="the partner app's ID (partnerApps { id })")
    upload.add_argument("--token", required=True, help="an administrator's API token (plyp_…) or access token")
    upload.add_argument("--account", help="the account's ID (X-Parley-Account), when the token's user has several")
    upload.add_argument("--url", help="Parley's public URL (default PARLEY_PUBLIC_URL)")
    upload.add_argument("--skip-invalid", action="store_true", help="store the valid operations, leave out the others")
    upload.set_defaults(func=cmd_partner_manifest)

    imp = sub.add_parser("import", help="copy another helpdesk's data into Parley")
    imp_sub = imp.add_subparsers(dest="import_command", required=True)
    chatwoot = imp_sub.add_parser(
        "chatwoot", help="import a Chatwoot database (read only; resumable; a second run changes nothing)"
    )
    chatwoot.add_argument("--source", required=True, help="the Chatwoot database, postgresql://user:pass@host/db")
    chatwoot.add_argument("--account", type=int, help="move this Chatwoot account only (its id)")
    chatwoot.add_argument(
        "--storage-dir", help="ActiveStorage's disk service root (Chatwoot's storage/); without it no file is copied"
    )
    chatwoot.add_argument("--batch-size", type=int, help="rows per batch and checkpoint (default 2000)")
    chatwoot.add_argument(
        "--parallel",
        type=int,
        help="batches of messages written at once, a database connection each (default 2)",
    )
    chatwoot.add_argument(
        "--pause", type=float, default=0.0, help="seconds to wait between batches (spares the source)"
    )
    chatwoot.add_argument("--json", action="store_true", help="print the reconciliation as JSON")
    chatwoot.set_defaults(func=cmd_import_chatwoot)

    undo = imp_sub.add_parser(
        "chatwoot-rollback", help="drop what an import made of one Chatwoot account (and all written there since)"
    )
    undo.add_argument("--source", required=True, help="the Chatwoot database the import read")
    undo.add_argument("--account", type=int, required=True, help="the Chatwoot account's id")
    undo.set_defaults(func=cmd_import_chatwoot_rollback)

    sync = sub.add_parser("sync", help="keep Parley current with another helpdesk while both run")
    sync_sub = sync.add_subparsers(dest="sync_command", required=True)
    sync_cw = sync_sub.add_parser("chatwoot", help="poll a Chatwoot database; new messages arrive with their events")
    sync_cw.add_argument("--source", required=True, help="the Chatwoot database, postgresql://user:pass@host/db")
    sync_cw.add_argument("--account", type=int, help="this Chatwoot account only (its id)")
    sync_cw.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    sync_cw.add_argument("--once", action="store_true", help="poll once and stop")
    sync_cw.set_defaults(func=cmd_sync_chatwoot)

    contacts = sub.add_parser("contacts", help="contacts of an account")
    contacts_sub = contacts.add_subparsers(dest="contacts_command", required=True)
    contacts_import = contacts_sub.add_parser(
        "import", help="import contacts from CSV (a second run of the same file changes nothing)"
    )
    contacts_import.add_argument("file", help="the CSV file: name, email, phone_number, identifier, labels, ...")
    contacts_import.add_argument("--account", type=int, required=True, help="the account's id")
    contacts_import.add_argument("--dry-run", action="store_true", help="check and count, write no contact")
    contacts_import.set_defaults(func=cmd_contacts_import)

    superadmin = sub.add_parser("superadmin", help="super admins, who manage the installation")
    superadmin_sub = superadmin.add_subparsers(dest="superadmin_command", required=True)
    grant = superadmin_sub.add_parser("grant", help="make an existing user a super admin (audited)")
    grant.add_argument("email", help="the user's email")
    grant.set_defaults(func=cmd_superadmin_grant)

    seed = sub.add_parser("seed-demo", help="create a demo account with agents, inboxes and conversations")
    seed.set_defaults(func=cmd_seed_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigurationError, CommandError) as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
