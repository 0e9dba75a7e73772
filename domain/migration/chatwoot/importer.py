"""`parley import chatwoot`: copy a Chatwoot installation (or one account of it) into Parley.

The source is only read: one connection, in a read-only, repeatable-read transaction (one snapshot
for the whole run), with `default_transaction_read_only` set for the session as well.

Each source table is read in keyset batches (`id > last ORDER BY id LIMIT n`). One Parley
transaction per batch writes the new rows, their id map entries, the skipped rows and the table's
checkpoint, so a run killed anywhere (kill -9 included) resumes after the last committed batch and
never writes a row twice; a source row already in the id map is passed over, so re-runs (or a run
over all accounts after one over a single account) change nothing.

Rows are written straight into the tables (COPY, or for staged tables one INSERT … SELECT per batch
from a staging table, see `Staged`), not through the domain services:
no event-log rows are made for history, so no webhook delivery, notification, realtime broadcast
or reporting consumer runs for imported data (see `parley sync chatwoot` for live changes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TextIO
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy import ARRAY, JSON, BigInteger, Table, any_, bindparam, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.base import utcnow
from db.models import Account, ImportCheckpoint, ImportIdMap, ImportSkip, User
from domain import crypto
from domain.helpdesk.inboxes import HMAC_TOKEN_CONTEXT
from domain.migration.chatwoot.tables import SPEC_BY_NAME, SPECS, Context, Skip, Spec, blob_path
from domain.migration.chatwoot.tables import table as core_table
from domain.webhooks import signing
from domain.webhooks.service import SECRET_CONTEXT
from infra.settings import Settings

DEFAULT_BATCH = 2000
# Batches of the big tables written at once, each on its own connection (plus one for the run's lock).
DEFAULT_LANES = 2


class SourceError(Exception):
    """The source cannot be read (unreachable, not a Chatwoot database, unknown account)."""


class MissingReference(Exception):
    """A batch refers to a Parley row that is gone (deleted while the import ran): the batch is
    rolled back, as a foreign key violation would roll it back."""


# A table's foreign keys, as (column, referenced table, referenced column); None when a key has
# several columns or the table has triggers of its own (then the database's checks stay on).
REFERENCES_SQL = """
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)
         OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'
                    AND cardinality(k.conkey) <> 1) THEN NULL
       ELSE coalesce((SELECT json_agg(json_build_array(a.attname, r.relname, ra.attname))
                      FROM pg_constraint k
                      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                      JOIN pg_class r ON r.oid = k.confrelid
                      JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
                      WHERE k.conrelid = c.oid AND k.contype = 'f'), '[]'::json)::text END
FROM pg_class c WHERE c.oid = to_regclass(:name)
"""


def source_name(url: str) -> str:
    """The installation's name in checkpoints and the id map: host, port and database, no password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def connect_source(url: str) -> asyncpg.Connection:
    try:
        conn = await asyncpg.connect(
            plain_url(url), server_settings={"default_transaction_read_only": "on", "application_name": "parley-import"}
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise SourceError(f"cannot reach the Chatwoot database: {exc}") from None
    return conn


@dataclass
class TableProgress:
    name: str
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:5.0f}s" if rate > 0 and left else "   0s"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.name:<30} {self.done:>8}/{self.total:<8} {pct:5.1f}%  {rate:9.0f} rows/s  ETA {eta}"


@dataclass
class TableReport:
    name: str
    source_rows: int = 0
    imported: int = 0  # in the id map (this run or an earlier one)
    new: int = 0  # written by this run
    skipped: Counter[str] = field(default_factory=Counter)
    missing: int = 0  # neither imported nor skipped: a reconciliation failure
    mismatched: int = 0  # imported, but Parley's row differs from what the source says
    source_checksum: str = ""
    target_checksum: str = ""

    @property
    def reconciles(self) -> bool:
        return (
            self.missing == 0
            and self.mismatched == 0
            and self.source_checksum == self.target_checksum
            and self.source_rows == self.imported + sum(self.skipped.values())
        )


@dataclass
class ImportReport:
    source: str
    scope: str
    tables: dict[str, TableReport] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return all(t.reconciles for t in self.tables.values())

    @property
    def new_rows(self) -> int:
        return sum(t.new for t in self.tables.values())

    def summary(self) -> dict[str, Any]:
        """What a second run must reproduce: counts and checksums, not target ids."""
        return {
            name: {
                "source_rows": t.source_rows,
                "imported": t.imported,
                "skipped": dict(t.skipped),
                "checksum": t.target_checksum,
            }
            for name, t in self.tables.items()
        }

    def render(self) -> str:
        lines = [
            f"reconciliation of {self.source} ({'all accounts' if self.scope == 'all' else 'account ' + self.scope})"
        ]
        lines.append(f"{'table':<30} {'source':>7} {'imported':>8} {'new':>6} {'skipped':>7}  checksum      ok")
        for t in self.tables.values():
            lines.append(
                f"{t.name:<30} {t.source_rows:>7} {t.imported:>8} {t.new:>6} {sum(t.skipped.values()):>7}  "
                f"{t.target_checksum[:12]:<12}  {'yes' if t.reconciles else 'NO'}"
            )
            for reason, n in sorted(t.skipped.items()):
                lines.append(f"    skipped {n}: {reason}")
            if t.missing or t.mismatched:
                lines.append(f"    {t.missing} not imported, {t.mismatched} differ from the source")
        lines.append("every row reconciles" if self.reconciles else "SOME ROWS DO NOT RECONCILE")
        return "\n".join(lines)


async def copy_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert with COPY (binary) inside the batch's transaction: several times faster than INSERT.
    Column defaults the models give in Python are applied here, as Core's INSERT would; columns
    with only a server default are left to the database."""
    names = list(rows[0])
    extra: dict[str, Any] = {}
    for column in table.c:
        if column.name in rows[0] or column.default is None:
            continue
        default = column.default
        if getattr(default, "is_scalar", False):
            extra[column.name] = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            extra[column.name] = default.arg(None)  # type: ignore[attr-defined]
    names += list(extra)
    json_columns = {
        c.name for c in table.c if isinstance(c.type, JSON) or isinstance(getattr(c.type, "impl", None), JSON)
    }

    json_at = [i for i, n in enumerate(names) if n in json_columns]
    plain_at = [i for i, n in enumerate(names) if n not in json_columns]

    def record(row: dict[str, Any]) -> tuple[Any, ...]:
        merged = {**extra, **row} if extra else row
        out = [merged[name] for name in names]
        for i in json_at:
            value = out[i]
            # Most JSON columns hold an empty object: no encoder call for those.
            out[i] = "{}" if value == {} and isinstance(value, dict) else json.dumps(value, ensure_ascii=False)
        for i in plain_at:
            if isinstance(out[i], Enum):
                out[i] = out[i].value
        return tuple(out)

    records = [record(row) for row in rows]
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=records, columns=names)


def _canonical(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if hasattr(value, "value"):  # enums
        return str(value.value)
    return "" if value is None else str(value)


def _digest(lines: list[str]) -> str:
    h = hashlib.sha256()
    for line in sorted(lines):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


class Importer:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        source_url: str,
        *,
        account: int | None = None,
        batch_size: int = DEFAULT_BATCH,
        storage_dir: str | None = None,
        pause: float = 0.0,
        progress: TextIO | None = None,
        tables: list[str] | None = None,
        lanes: int = DEFAULT_LANES,
    ) -> None:
        self.engine = engine
        self.lanes = max(1, lanes)
        self.settings = settings
        self.url = source_url
        self.source = source_name(source_url)
        self.account = account
        self.scope = "all" if account is None else str(account)
        self.batch_size = batch_size
        self.storage_dir = storage_dir
        self.pause = pause
        self.out = progress
        self.specs = [SPEC_BY_NAME[t] for t in tables] if tables else SPECS
        self.storage: Any = None
        self._references: dict[str, list[tuple[str, str, str]] | None] = {}

    # --- foreign keys -----------------------------------------------------------------------------

    async def _holds_references(self, conn: AsyncConnection, spec: Spec) -> bool:
        """Whether this table's batches check their foreign keys themselves: one `FOR KEY SHARE`
        query per key and batch over the distinct ids, instead of a trigger call per row. The rows
        are as safe as with the triggers (each referenced row exists and is locked against deletion
        until the batch commits); it takes a role that may set `session_replication_role`."""
        if not await conn.scalar(text("SELECT current_setting('is_superuser') = 'on'")):
            return False
        for name in (spec.target.name, core_table(ImportIdMap).name):
            if name not in self._references:
                found = await conn.scalar(text(REFERENCES_SQL), {"name": name})
                self._references[name] = None if found is None else [tuple(k) for k in json.loads(found)]
            if self._references[name] is None:
                return False
        return True

    async def _hold(self, conn: AsyncConnection, table: str, rows: list[dict[str, Any]]) -> None:
        for column, referenced, key in self._references[table] or []:
            ids = {int(r[column]) for r in rows if r.get(column) is not None}
            if not ids:
                continue
            found = await conn.scalar(
                text(
                    f'SELECT count(*) FROM (SELECT 1 FROM "{referenced}" WHERE "{key}" = ANY(:ids) FOR KEY SHARE) q'
                ).bindparams(bindparam("ids", type_=ARRAY(BigInteger))),
                {"ids": sorted(ids)},
            )
            if found != len(ids):
                raise MissingReference(f"{table}.{column}: a row of {referenced} it refers to no longer exists")

    # --- the source -------------------------------------------------------------------------------

    def _query(self, spec: Spec, count: bool = False) -> str:
        where = "t.id > $1" + (f" AND ({spec.scope})" if self.account is not None else "")
        if count:
            return f"SELECT count(*) FROM ({spec.select} WHERE {where}) q"
        return f"{spec.select} WHERE {where} ORDER BY t.id LIMIT {int(self.batch_size)}"

    def _args(self, last_id: int) -> list[int]:
        return [last_id] if self.account is None else [last_id, self.account]

    async def _pages(self, src: asyncpg.Connection, spec: Spec, after: int) -> AsyncIterator[list[Any]]:
        """Keyset pages; the next page is read from the source while the caller writes this one."""
        import asyncio

        query = self._query(spec)
        pending = asyncio.ensure_future(src.fetch(query, *self._args(after)))
        try:
            while True:
                rows = await pending
                if not rows:
                    return
                pending = asyncio.ensure_future(src.fetch(query, *self._args(int(rows[-1]["id"]))))
                yield rows
        finally:
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    # --- the id map -------------------------------------------------------------------------------

    async def _load_refs(self, conn: AsyncConnection, spec: Spec, rows: list[Any]) -> dict[str, dict[int, int]]:
        wanted: dict[str, set[int]] = {}
        for column, table in spec.refs.items():
            ids = {int(r[column]) for r in rows if r[column] is not None}
            wanted.setdefault(table, set()).update(ids)
        if spec.name != "accounts" and "accounts" not in spec.refs and spec.account_column:
            wanted.setdefault("accounts", set()).update(
                {int(r[spec.account_column]) for r in rows if r[spec.account_column] is not None}
            )
        refs: dict[str, dict[int, int]] = {}
        for table, ids in wanted.items():
            refs[table] = await self._mapped(conn, table, ids) if ids else {}
        return refs

    async def _mapped(self, conn: AsyncConnection, table: str, ids: set[int]) -> dict[int, int]:
        found = await conn.execute(
            select(ImportIdMap.source_id, ImportIdMap.target_id).where(
                ImportIdMap.source == self.source,
                ImportIdMap.source_table == table,
                ImportIdMap.source_id == any_(literal(sorted(ids), ARRAY(BigInteger))),
            )
        )
        return {int(s): int(t) for s, t in found}

    async def _skipped(self, conn: AsyncConnection, table: str, ids: set[int]) -> set[int]:
        found = await conn.scalars(
            select(ImportSkip.source_id).where(
                ImportSkip.source == self.source,
                ImportSkip.source_table == table,
                ImportSkip.source_id == any_(literal(sorted(ids), ARRAY(BigInteger))),
            )
        )
        return {int(s) for s in found}

    def _context(self, refs: dict[str, dict[int, int]], reconciling: bool = False) -> Context:
        settings = self.settings

        def fallback_hmac(source_id: int) -> str:
            return hashlib.sha256(
                f"{settings.secret_key}|chatwoot-hmac|{self.source}|{source_id}".encode()
            ).hexdigest()[:32]

        def new_webhook_secret() -> tuple[str, str, str]:
            secret = signing.new_secret()
            sealed = crypto.encrypt(secret, settings, context=SECRET_CONTEXT)
            return sealed, crypto.key_id_of(sealed) or "", signing.hint(secret)

        return Context(
            refs=refs,
            reconciling=reconciling,
            storage_dir=self.storage_dir,
            extra={"source": self.source, "fallback_hmac": fallback_hmac, "new_webhook_secret": new_webhook_secret},
        )

    # --- one batch --------------------------------------------------------------------------------

    async def _highest_done(self, conn: AsyncConnection, spec: Spec) -> int:
        """The highest source id of this table already mapped or skipped (by any scope's run)."""
        mapped = await conn.scalar(
            select(func.max(ImportIdMap.source_id)).where(
                ImportIdMap.source == self.source, ImportIdMap.source_table == spec.name
            )
        )
        skipped = await conn.scalar(
            select(func.max(ImportSkip.source_id)).where(
                ImportSkip.source == self.source, ImportSkip.source_table == spec.name
            )
        )
        return max(int(mapped or 0), int(skipped or 0))

    async def _batch(
        self, conn: AsyncConnection, spec: Spec, rows: list[Any], highest_done: int = -1, hold: bool = False
    ) -> tuple[int, int]:
        ids = {int(r["id"]) for r in rows}
        done: set[int] = set()
        if min(ids) <= highest_done:  # rows past every mapped one need no look-up (the usual case)
            done = set((await self._mapped(conn, spec.name, ids)).keys()) | await self._skipped(conn, spec.name, ids)
        fresh = [r for r in rows if int(r["id"]) not in done]
        if not fresh:
            return 0, 0
        ctx = self._context(await self._load_refs(conn, spec, fresh))
        if spec.prepare is not None:
            await spec.prepare(conn, fresh, ctx)
        target_ids: list[int] = []
        if spec.has_id:
            seq = f"{spec.target.name}_id_seq"
            target_ids = list(
                await conn.scalars(text(f"SELECT nextval('{seq}') FROM generate_series(1, :n)"), {"n": len(fresh)})
            )
        existing_users: dict[str, int] = {}
        if spec.name == "users":
            emails = {(r["email"] or "").strip().lower() for r in fresh} - {""}
            found = await conn.execute(
                select(func.lower(User.email), User.id).where(func.lower(User.email).in_(emails))
            )
            existing_users = dict(found.all())
        values: list[dict[str, Any]] = []
        id_map: list[dict[str, Any]] = []
        skips: list[dict[str, Any]] = []
        blobs: list[tuple[str, str | None, str, str]] = []
        seen_emails: set[str] = set()
        for i, row in enumerate(fresh):
            ctx.target_id = target_ids[i] if spec.has_id else None
            source_account = row[spec.account_column] if spec.account_column else None
            try:
                out = spec.transform(row, ctx)
                if spec.name == "users":
                    if out["email"] in seen_emails:
                        raise Skip("email address already used by another Chatwoot user (differs only in case)")
                    seen_emails.add(out["email"])
            except Skip as why:
                skips.append(
                    {
                        "source": self.source,
                        "source_table": spec.name,
                        "source_id": int(row["id"]),
                        "account_id": source_account,
                        "reason": str(why)[:255],
                    }
                )
                continue
            target_account = ctx.target_id if spec.name == "accounts" else out.get("account_id")
            if spec.name == "users" and out["email"] in existing_users:
                # Someone Parley already knows (another account, or imported before): keep their password.
                id_map.append(self._map_row(spec, row, existing_users[out["email"]], None, created=False))
                continue
            if spec.name == "inboxes":
                sealed = crypto.encrypt(out["_hmac_token"], self.settings, context=HMAC_TOKEN_CONTEXT)
                out["hmac_token_encrypted"], out["hmac_token_key_id"] = sealed, crypto.key_id_of(sealed) or ""
            if spec.name == "attachments":
                key, checksum = out["_blob"]
                blobs.append((key, checksum, out["storage_key"], out["content_type"]))
            record = {k: v for k, v in out.items() if not k.startswith("_")}
            if spec.has_id:
                record["id"] = ctx.target_id
            values.append(record)
            target = ctx.target_id if spec.has_id else out[spec.key[0]]
            assert target is not None
            id_map.append(self._map_row(spec, row, int(target), target_account))
        if blobs:
            bad = await self._copy_files(blobs)
            if bad:
                keep = [j for j, rec in enumerate(values) if rec["storage_key"] not in bad]
                for j, rec in enumerate(values):
                    if rec["storage_key"] in bad:
                        sid = id_map[j]["source_id"]
                        skips.append(
                            {
                                "source": self.source,
                                "source_table": spec.name,
                                "source_id": sid,
                                "account_id": None,
                                "reason": bad[rec["storage_key"]],
                            }
                        )
                values = [values[j] for j in keep]
                id_map = [id_map[j] for j in keep]
        if values:
            await copy_rows(conn, spec.target, values)
            if hold:
                await self._hold(conn, spec.target.name, values)
        if id_map:
            await copy_rows(conn, core_table(ImportIdMap), id_map)
            if hold:
                await self._hold(conn, core_table(ImportIdMap).name, id_map)
        if skips:
            await conn.execute(pg_insert(core_table(ImportSkip)).on_conflict_do_nothing(), skips)
        if spec.name == "conversations" and values:
            highest: dict[int, int] = {}
            for rec in values:
                highest[rec["account_id"]] = max(highest.get(rec["account_id"], 0), rec["display_id"])
            for account_id, display_id in highest.items():
                await conn.execute(
                    update(Account)
                    .where(Account.id == account_id)
                    .values(conversation_seq=func.greatest(Account.conversation_seq, display_id))
                )
        return len(values), len(skips)

    def _map_row(self, spec: Spec, row: Any, target: int, account: int | None, created: bool = True) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_table": spec.name,
            "source_id": int(row["id"]),
            "target_id": target,
            "account_id": account,
            "created": created,
        }

    async def _copy_files(self, blobs: list[tuple[str, str | None, str, str]]) -> dict[str, str]:
        """Copy ActiveStorage files into Parley's storage (same key on a re-run: a copy cut off by a
        kill is simply written again). Returns the keys that could not be copied, with the reason."""
        import base64
        from pathlib import Path

        from domain.storage import get_storage

        if self.storage is None:
            self.storage = get_storage(self.settings)
        bad: dict[str, str] = {}
        assert self.storage_dir is not None
        for blob_key, checksum, key, content_type in blobs:
            try:
                data = Path(blob_path(self.storage_dir, blob_key)).read_bytes()
            except OSError:
                bad[key] = "file missing from storage"
                continue
            if checksum and base64.b64encode(hashlib.md5(data).digest()).decode() != checksum:
                bad[key] = "file damaged (its checksum differs from ActiveStorage's)"
                continue

            async def chunks(body: bytes = data) -> AsyncIterator[bytes]:
                yield body

            await self.storage.put_stream(key, chunks(), content_type=content_type)
        return bad

    # --- checkpoints ------------------------------------------------------------------------------

    async def _checkpoint(self, conn: AsyncConnection, spec: Spec) -> ImportCheckpoint | None:
        row = await conn.execute(
            select(core_table(ImportCheckpoint)).where(
                ImportCheckpoint.source == self.source,
                ImportCheckpoint.scope == self.scope,
                ImportCheckpoint.source_table == spec.name,
            )
        )
        return row.first()  # type: ignore[return-value]

    async def _save_checkpoint(
        self, conn: AsyncConnection, spec: Spec, last_id: int, read: int, new: int, skipped: int, finished: bool = False
    ) -> None:
        now = utcnow()
        stmt = pg_insert(core_table(ImportCheckpoint)).values(
            source=self.source,
            scope=self.scope,
            source_table=spec.name,
            last_source_id=last_id,
            rows_read=read,
            rows_imported=new,
            rows_skipped=skipped,
            finished_at=now if finished else None,
            updated_at=now,
        )
        t = core_table(ImportCheckpoint).c
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["source", "scope", "source_table"],
                set_={
                    "last_source_id": func.greatest(t.last_source_id, stmt.excluded.last_source_id),
                    "rows_read": t.rows_read + stmt.excluded.rows_read,
                    "rows_imported": t.rows_imported + stmt.excluded.rows_imported,
                    "rows_skipped": t.rows_skipped + stmt.excluded.rows_skipped,
                    "finished_at": stmt.excluded.finished_at,
                    "updated_at": now,
                },
            )
        )

    # --- the run ----------------------------------------------------------------------------------

    def _say(self, line: str, end: str = "\n") -> None:
        if self.out is not None:
            self.out.write(line + end)
            self.out.flush()

    async def _check_source(self, src: asyncpg.Connection) -> None:
        missing = await src.fetch(
            "SELECT name FROM unnest($1::text[]) name WHERE to_regclass(name) IS NULL",
            ["accounts", "users", "account_users", "inboxes", "contacts", "conversations", "messages"],
        )
        if missing:
            raise SourceError("not a Chatwoot database: no table " + ", ".join(r["name"] for r in missing))
        if self.account is not None and not await src.fetchval("SELECT 1 FROM accounts WHERE id = $1", self.account):
            raise SourceError(f"the Chatwoot database has no account {self.account}")

    async def run(self, reconcile: bool = True) -> ImportReport:
        # One run per source at a time: two would both see a row unmapped and write it twice.
        async with self.engine.connect() as lock:
            key = int.from_bytes(
                hashlib.sha256(f"parley-import|{self.source}".encode()).digest()[:8], "big", signed=True
            )
            if not await lock.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
                raise SourceError(f"another import or sync of {self.source} is running")
            try:
                return await self._run(reconcile)
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await lock.commit()

    async def _run(self, reconcile: bool) -> ImportReport:
        src = await connect_source(self.url)
        try:
            async with src.transaction(isolation="repeatable_read", readonly=True):
                await self._check_source(src)
                report = ImportReport(self.source, self.scope)
                for spec in self.specs:
                    report.tables[spec.name] = TableReport(spec.name, new=await self._import_table(src, spec))
                if reconcile:
                    await self._reconcile(src, report)
        finally:
            await src.close()
        return report

    async def _import_table(self, src: asyncpg.Connection, spec: Spec) -> int:
        async with self.engine.connect() as conn:
            cp = await self._checkpoint(conn, spec)
            highest_done = await self._highest_done(conn, spec)
            hold = await self._holds_references(conn, spec)
        last = int(cp.last_source_id) if cp is not None else 0
        read = await self._staged_read(src, spec) if spec.staged is not None else None
        if read is not None:
            new_total, progress = await self._import_staged(src, spec, read, last, highest_done, hold)
        else:
            new_total, progress = await self._import_rows(src, spec, last, highest_done, hold)
        async with self.engine.begin() as conn:
            await self._save_checkpoint(conn, spec, last, 0, 0, 0, finished=True)
        if new_total:
            # Fresh statistics, or the planner keeps thinking the id map is empty (a sequential scan
            # per look-up); ANALYZE may not run inside a transaction block.
            async with self.engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text(f'ANALYZE import_id_map, "{spec.target.name}"'))
        if self.out is not None and self.out.isatty():
            self._say("")
        elif progress.done == 0:
            self._say(progress.line())  # nothing (left) to read: say so once
        return new_total

    async def _begin_batch(self, conn: AsyncConnection, hold: bool) -> None:
        # Safe to not wait for the WAL flush: a batch the server loses in a crash is lost whole
        # (rows, id map and checkpoint together), and the next run writes it again.
        await conn.execute(text("SET LOCAL synchronous_commit = off"))
        if hold:
            # The foreign keys are checked per batch (`_hold`), not by a trigger per row.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))

    async def _after_batch(self, progress: TableProgress, rows: int) -> None:
        progress.done += rows
        self._say(progress.line(), end="\r" if self.out is not None and self.out.isatty() else "\n")
        if self.pause:
            import asyncio

            await asyncio.sleep(self.pause)

    async def _import_rows(
        self, src: asyncpg.Connection, spec: Spec, last: int, highest_done: int, hold: bool
    ) -> tuple[int, TableProgress]:
        """Rows fetched from the source and transformed in Python, a batch per transaction."""
        progress = TableProgress(spec.name, await src.fetchval(self._query(spec, count=True), *self._args(last)))
        new_total = 0
        async for rows in self._pages(src, spec, last):
            async with self.engine.begin() as conn:
                await self._begin_batch(conn, hold)
                new, skipped = await self._batch(conn, spec, rows, highest_done, hold)
                await self._save_checkpoint(conn, spec, int(rows[-1]["id"]), len(rows), new, skipped)
            new_total += new
            await self._after_batch(progress, len(rows))
        return new_total, progress

    # --- staged tables: raw rows in, one statement per batch ---------------------------------------

    async def _staged_read(self, src: asyncpg.Connection, spec: Spec) -> str | None:
        """The source read of a staged table, each column cast to its staging type, or None when
        the source's columns are not what the SQL transform expects (then rows go through Python)."""
        staged = spec.staged
        assert staged is not None
        found = await src.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            staged.table,
        )
        types = {r["attname"]: r["type"] for r in found}
        accepted = {
            "bigint": ("smallint", "integer", "bigint"),
            "integer": ("smallint", "integer"),
            "boolean": ("boolean",),
            "jsonb": ("json", "jsonb"),
            "text": ("text", "character varying"),
            "timestamptz": ("timestamp without time zone", "timestamp with time zone"),
        }
        exprs = []
        for name, kind in staged.columns.items():
            have = re.sub(r"\(\d+\)", "", types.get(name, ""))
            if have not in accepted[kind]:
                return None
            if have == "timestamp without time zone":
                exprs.append(f"(t.\"{name}\" AT TIME ZONE 'UTC')")  # Rails writes UTC (`ts`)
            else:
                exprs.append(f'CAST(t."{name}" AS {kind})')
        return f'SELECT {", ".join(exprs)} FROM "{staged.table}" t'

    def _staged_where(self, spec: Spec, low: int, high: int) -> str:
        where = f"t.id > {int(low)} AND t.id <= {int(high)}"
        if self.account is not None:
            where += f" AND ({spec.scope.replace('$2', str(int(self.account)))})"
        return where

    async def _import_staged(
        self, src: asyncpg.Connection, spec: Spec, read: str, last: int, highest_done: int, hold: bool
    ) -> tuple[int, TableProgress]:
        """Each batch's source rows are COPYed out of Chatwoot (binary, no decoding here) and into a
        temporary staging table, then one statement transforms them, joined to the id map, into the
        table, its id map entries and its skips (`Staged.sql`). The batches are the same keyset
        ranges of `batch_size` rows as the row path (their bounds read up front in the one snapshot);
        the next one is read from the source while this one is written."""
        import asyncio

        staged = spec.staged
        assert staged is not None
        where = "t.id > $1" + (f" AND ({spec.scope})" if self.account is not None else "")
        bounds = await src.fetch(
            f"SELECT id, n FROM (SELECT t.id, row_number() OVER (ORDER BY t.id) AS n, "
            f"lead(t.id) OVER (ORDER BY t.id) IS NULL AS final FROM {spec.select.split(' FROM ', 1)[1]} "
            f"WHERE {where}) q WHERE n % {int(self.batch_size)} = 0 OR final ORDER BY id",
            *self._args(last),
        )
        progress = TableProgress(spec.name, int(bounds[-1]["n"]) if bounds else 0)
        ranges: list[tuple[int, int, int]] = []
        low, seen = last, 0
        for b in bounds:
            ranges.append((low, int(b["id"]), int(b["n"]) - seen))
            low, seen = int(b["id"]), int(b["n"])

        async def fetch(low: int, high: int) -> list[bytes]:
            parts: list[bytes] = []

            async def sink(chunk: bytes) -> None:
                parts.append(chunk)

            await src.copy_from_query(
                f"{read} WHERE {self._staged_where(spec, low, high)}", output=sink, format="binary"
            )
            return parts

        async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        stage = f"import_stage_{staged.table}"
        columns = ", ".join(f'"{n}" {k}' for n, k in staged.columns.items())
        done_filter = (
            " WHERE NOT EXISTS (SELECT 1 FROM import_id_map d WHERE d.source = :source"
            " AND d.source_table = :table AND d.source_id = s.id)"
            " AND NOT EXISTS (SELECT 1 FROM import_skips d WHERE d.source = :source"
            " AND d.source_table = :table AND d.source_id = s.id)"
        )
        checks = self._staged_checks(spec) if hold else []
        if checks is None:  # a key the statement cannot check: the database's triggers check them
            hold, checks = False, []
        check_sql = "".join(f", ({want}) = ({got}) AS check_{i}" for i, (want, got) in enumerate(checks))
        statement = staged.sql.replace("{checks}", check_sql)

        def batch_sql(redo: bool) -> str:
            first = f"stage AS MATERIALIZED (SELECT * FROM pg_temp.{stage} s{done_filter if redo else ''})"
            return f"WITH {first},\n{statement}"

        # Batches run on `lanes` connections at once (the database's work per batch — indexes, id
        # map, look-ups — is most of an import's time). Ids are drawn in batch order before a batch starts, and the checkpoint only moves over the batches
        # that are all committed, so a restart redoes (and skips, through the id map) any batch that
        # had committed past a slower one.
        lanes = self._lanes()
        sequence = f"{spec.target.name}_id_seq"
        order = asyncio.Lock()
        committed = [False] * len(ranges)
        state = {"prefix": 0, "new": 0}
        failed: list[BaseException] = []
        free: asyncio.Queue[AsyncConnection] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()

        async def write(i: int, conn: AsyncConnection, trans: Any, data: list[bytes], ids: list[int]) -> None:
            low, high, count = ranges[i]
            try:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                await driver.copy_to_table(stage, source=chunks(data), format="binary")
                result = (
                    await conn.execute(
                        text(batch_sql(low < highest_done)), {"source": self.source, "table": spec.name, "ids": ids}
                    )
                ).one()
                if not all(result[2:]):
                    raise MissingReference(f"{spec.target.name}: a row it refers to no longer exists")
                new, skipped = int(result[0]), int(result[1])
                if staged.after is not None and new:
                    await conn.execute(
                        text(f"WITH stage AS (SELECT * FROM pg_temp.{stage}) {staged.after}"),
                        {"source": self.source},
                    )
                async with order:
                    committed[i] = True
                    prefix = state["prefix"]
                    while prefix < len(ranges) and committed[prefix]:
                        prefix += 1
                    await self._save_checkpoint(
                        conn, spec, ranges[prefix - 1][1] if prefix else last, count, new, skipped
                    )
                    await trans.commit()
                    state["prefix"] = prefix
                state["new"] += new
                await self._after_batch(progress, count)
            except BaseException as exc:  # noqa: BLE001 - kept, raised by the loop below
                if trans.is_active:
                    with contextlib.suppress(Exception):
                        await trans.rollback()
                failed.append(exc)
            finally:
                free.put_nowait(conn)

        pending = asyncio.ensure_future(fetch(*ranges[0][:2])) if ranges else None
        try:
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(lanes):
                    conn = await stack.enter_async_context(self.engine.connect())
                    await conn.execute(
                        text(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({columns}) ON COMMIT DELETE ROWS")
                    )
                    await conn.commit()
                    free.put_nowait(conn)
                for i, (_low, _high, count) in enumerate(ranges):
                    assert pending is not None
                    data = await pending
                    pending = asyncio.ensure_future(fetch(*ranges[i + 1][:2])) if i + 1 < len(ranges) else None
                    conn = await free.get()
                    if failed:
                        free.put_nowait(conn)
                        break
                    trans = await conn.begin()
                    await self._begin_batch(conn, hold)
                    # Drawn here, one batch after the other, so ids follow the source order.
                    ids = sorted(
                        (
                            await conn.scalars(
                                text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
                                {"seq": sequence, "n": count},
                            )
                        ).all()
                    )
                    task = asyncio.create_task(write(i, conn, trans, data, ids))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if running:
                    await asyncio.gather(*running)
                if failed:
                    raise failed[0]
                for _ in range(lanes):
                    conn = await free.get()
                    await conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{stage}"))
                    await conn.commit()
        finally:
            for task in list(running):
                task.cancel()
            for task in list(running):
                with contextlib.suppress(BaseException):
                    await task
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
        new_total = state["new"]
        return new_total, progress

    def _lanes(self) -> int:
        """The lanes the engine's pool can serve beside the connection holding the run's lock."""
        pool: Any = self.engine.pool
        size = getattr(pool, "size", None)
        if size is None:
            return self.lanes
        overflow = getattr(pool, "_max_overflow", 0)
        if int(overflow) < 0:
            return self.lanes
        return max(1, min(self.lanes, int(size()) + int(overflow) - 1))

    def _staged_checks(self, spec: Spec) -> list[tuple[str, str]] | None:
        """The foreign keys of a staged batch, checked in its statement as `_hold` checks them: the
        distinct ids the new rows refer to against the referenced rows found (and locked). None when
        one of the id map's keys is not a column of the batch."""
        staged = spec.staged
        assert staged is not None
        keys = [(c, r, k) for c, r, k in self._references[spec.target.name] or []]
        for column, referenced, key in self._references[core_table(ImportIdMap).name] or []:
            if column not in staged.id_map_columns:
                return None
            keys.append((staged.id_map_columns[column], referenced, key))
        written = set(staged.columns) | {"id", "account_id"}
        return [
            (
                f'SELECT count(DISTINCT "{column}") FROM new',
                f'SELECT count(*) FROM (SELECT 1 FROM "{referenced}" WHERE "{key}" IN '
                f'(SELECT "{column}" FROM new) FOR KEY SHARE) q',
            )
            for column, referenced, key in dict.fromkeys(keys)
            if column in written  # a key the batch does not write stays null
        ]

    # --- reconciliation ---------------------------------------------------------------------------

    async def _reconcile(self, src: asyncpg.Connection, report: ImportReport) -> None:
        for spec in self.specs:
            t = report.tables[spec.name]
            source_lines: list[str] = []
            target_lines: list[str] = []
            async for rows in self._pages(src, spec, 0):
                t.source_rows += len(rows)
                async with self.engine.connect() as conn:
                    ids = {int(r["id"]) for r in rows}
                    mapped_rows = await conn.execute(
                        select(ImportIdMap.source_id, ImportIdMap.target_id, ImportIdMap.created).where(
                            ImportIdMap.source == self.source,
                            ImportIdMap.source_table == spec.name,
                            ImportIdMap.source_id.in_(ids),
                        )
                    )
                    mapped = {int(s): (int(tg), bool(c)) for s, tg, c in mapped_rows}
                    skips = await conn.execute(
                        select(ImportSkip.source_id, ImportSkip.reason).where(
                            ImportSkip.source == self.source,
                            ImportSkip.source_table == spec.name,
                            ImportSkip.source_id.in_(ids),
                        )
                    )
                    skipped = {int(s): r for s, r in skips}
                    ctx = self._context(await self._load_refs(conn, spec, rows), reconciling=True)
                    if spec.prepare is not None:
                        await spec.prepare(conn, rows, ctx)
                    expected: dict[int, dict[str, Any]] = {}
                    for row in rows:
                        sid = int(row["id"])
                        if sid in skipped:
                            t.skipped[skipped[sid]] += 1
                            continue
                        if sid not in mapped:
                            t.missing += 1
                            continue
                        t.imported += 1
                        ctx.target_id = mapped[sid][0]
                        try:
                            out = spec.transform(row, ctx)
                        except Skip:
                            t.mismatched += 1
                            continue
                        fields = ("email",) if not mapped[sid][1] else spec.check
                        expected[sid] = {f: out.get(f) for f in fields}
                    actual = await self._target_rows(conn, spec, {sid: mapped[sid][0] for sid in expected}, expected)
                    await self._as_source_ids(conn, spec, [*expected.values(), *actual.values()])
                for sid, want in expected.items():
                    have = actual.get(sid)
                    want_line = f"{sid}|" + "|".join(_canonical(want[f]) for f in want)
                    have_line = f"{sid}|" + ("|".join(_canonical(have.get(f)) for f in want) if have else "<absent>")
                    source_lines.append(want_line)
                    target_lines.append(have_line)
                    if want_line != have_line:
                        t.mismatched += 1
            t.source_checksum, t.target_checksum = _digest(source_lines), _digest(target_lines)

    async def _as_source_ids(self, conn: AsyncConnection, spec: Spec, rows: list[dict[str, Any]]) -> None:
        """Replace the Parley ids in checked columns by the source ids they were made from."""

        def table_of(row: dict[str, Any], field_name: str) -> str:
            table = spec.ids[field_name]
            if table == "sender":
                kind = _canonical(row.get("sender_type"))
                return "users" if kind == "user" else "contacts" if kind == "contact" else ""
            return table

        wanted: dict[str, set[int]] = {}
        for row in rows:
            for name in spec.ids:
                if row.get(name) is not None and table_of(row, name):
                    wanted.setdefault(table_of(row, name), set()).add(int(row[name]))
        reverse: dict[str, dict[int, int]] = {}
        for table, ids in wanted.items():
            found = await conn.execute(
                select(ImportIdMap.target_id, func.min(ImportIdMap.source_id))
                .where(
                    ImportIdMap.source == self.source,
                    ImportIdMap.source_table == table,
                    ImportIdMap.target_id.in_(ids),
                )
                .group_by(ImportIdMap.target_id)
            )
            reverse[table] = {int(t): int(s) for t, s in found}
        for row in rows:
            for name in spec.ids:
                if row.get(name) is not None:
                    table = table_of(row, name)
                    row[name] = f"{table}:{reverse.get(table, {}).get(int(row[name]), 'parley-' + str(row[name]))}"

    async def _target_rows(
        self, conn: AsyncConnection, spec: Spec, targets: dict[int, int], expected: dict[int, dict[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        if not targets:
            return {}
        table = spec.target
        if not spec.has_id:
            keys = {sid: tuple(expected[sid][k] for k in spec.key) for sid in targets}
            cols = [table.c[k] for k in spec.key]
            found = await conn.execute(select(*cols).where(tuple_(*cols).in_(list(set(keys.values())))))
            present = {tuple(r) for r in found}
            return {sid: dict(zip(spec.key, key, strict=True)) for sid, key in keys.items() if key in present}
        columns = [c for c in table.c if c.name in {f for e in expected.values() for f in e} | {"id"}]
        if spec.name == "inboxes":
            columns.append(table.c.hmac_token_encrypted)
        if spec.name == "attachments":
            columns.append(table.c.storage_key)
        found = await conn.execute(select(*columns).where(table.c.id.in_(set(targets.values()))))
        by_target = {r.id: dict(r._mapping) for r in found}
        out: dict[int, dict[str, Any]] = {}
        for sid, target in targets.items():
            row = by_target.get(target)
            if row is None:
                continue
            if spec.name == "inboxes":
                try:
                    row["_hmac_token"] = crypto.decrypt(
                        row.pop("hmac_token_encrypted"), self.settings, context=HMAC_TOKEN_CONTEXT
                    )
                except crypto.DecryptionError:
                    row["_hmac_token"] = None
            if spec.name == "attachments":
                row["_stored"] = await self._stored(row.pop("storage_key"))
            out[sid] = row
        return out

    async def _stored(self, key: str) -> bool:
        from domain.storage import get_storage

        if self.storage is None:
            self.storage = get_storage(self.settings)
        return await self.storage.head(key) is not None


def default_progress() -> TextIO:
    return sys.stderr


ProgressFactory = Callable[[], TextIO]
