"""Contact CSV import and export, through GraphQL with the server's worker running the import job.

A 10,000-row file with a few bad rows imports batch by batch (progress read back while it runs), the
bad rows come back with their row numbers and codes, importing it again changes nothing, a dry run
writes nothing, and an export reads back as the contacts with formula-looking cells escaped."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys

import httpx
from sqlalchemy import text

from schema.core.ids import decode_id
from tests.support.accounts import add_agent, signup
from tests.support.desk import ERR

IMPORT = f"""mutation($csv: String!, $dry: Boolean!) {{ contactsImport(csv: $csv, dryRun: $dry) {{
  contactImport {{ id status total }} {ERR} }} }}"""
PROGRESS = """query($id: ID!) { contactImport(id: $id) { id status dryRun total processed created updated unchanged
  failed errors { row field code message } } }"""
EXPORT = f"""mutation($label: String, $search: String) {{ contactsExport(label: $label, search: $search) {{
  rowCount downloadUrl {ERR} }} }}"""
LABEL_CREATE = f"mutation($t: String!) {{ labelCreate(input: {{title: $t}}) {{ label {{ id }} {ERR} }} }}"
DEF_CREATE = f"""mutation($input: CustomAttributeDefinitionCreateInput!) {{ customAttributeDefinitionCreate(input: $input)
  {{ customAttributeDefinition {{ id }} {ERR} }} }}"""
ROWS = 10_000


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def big_file() -> tuple[str, dict[int, str]]:
    """10,000 data rows; the bad ones by spreadsheet row number (the header is row 1) and their codes."""
    rows = [["name", "email", "phone_number", "identifier", "labels", "plan", "favourite_colour"]]
    bad: dict[int, str] = {}
    for n in range(ROWS):
        rows.append(
            [f"Person {n}", f"p{n}@example.test", f"+49301{n:06d}", f"id-{n}", "vip" if n % 2 else "", "gold", "x"]
        )
    bad_rows = {
        2 + 100: ("email", "not-an-email", "INVALID_EMAIL"),
        2 + 2_000: ("phone_number", "12345", "INVALID_PHONE"),
        2 + 4_000: ("email", "p3@example.test", "DUPLICATE_IN_FILE"),
        2 + 6_000: ("labels", "vip;nonexistent", "UNKNOWN_LABEL"),
        2 + 8_000: ("name", "N" * 300, "TOO_LONG"),
    }
    header = rows[0]
    for row_number, (column, value, code) in bad_rows.items():
        rows[row_number - 1][header.index(column)] = value
        bad[row_number] = code
    return _csv(rows), bad


async def wait_done(gql, who, import_id: str, seen: list[int] | None = None, timeout: float = 240.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await gql.data(PROGRESS, {"id": import_id}, headers=who.headers()))["contactImport"]
        if seen is not None:
            seen.append(body["processed"])
        if body["status"] in ("DONE", "FAILED"):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out at {body}")
        await asyncio.sleep(0.05)


async def start(gql, who, data: str, dry: bool = False) -> str:
    payload = (await gql.data(IMPORT, {"csv": data, "dry": dry}, headers=who.headers()))["contactsImport"]
    assert payload["errors"] == [] and payload["contactImport"]["status"] == "QUEUED", payload
    return payload["contactImport"]["id"]


async def contact_count(db_engine, account_id: str) -> int:
    async with db_engine.connect() as c:
        return (
            await c.execute(
                text("SELECT count(*) FROM contacts WHERE account_id = :a"), {"a": decode_id(account_id, "Account")}
            )
        ).scalar_one()


async def _download(url: str, server) -> str:
    url = server.url.rstrip("/") + "/" + url.split("/", 3)[3]
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.text


async def test_a_large_file_imports_with_progress_and_reports_bad_rows_and_a_reimport_changes_nothing(
    gql, smtp, server, db_engine
):
    admin = await signup(gql)
    h = admin.headers()
    assert (await gql.data(LABEL_CREATE, {"t": "vip"}, headers=h))["labelCreate"]["errors"] == []
    created = await gql.data(
        DEF_CREATE,
        {"input": {"model": "CONTACT", "key": "plan", "displayName": "Plan", "displayType": "TEXT"}},
        headers=h,
    )
    assert created["customAttributeDefinitionCreate"]["errors"] == []
    # An existing contact that row 12 (p10) matches by email: its name differs, so it is updated.
    existing = await gql.data(
        f'mutation {{ contactCreate(input: {{name: "Old", email: "P10@example.test"}}) {{ contact {{ id }} {ERR} }} }}',
        headers=h,
    )
    assert existing["contactCreate"]["errors"] == []
    data, bad = big_file()

    # A dry run counts what would happen and writes nothing.
    dry = await wait_done(gql, admin, await start(gql, admin, data, dry=True))
    assert dry["status"] == "DONE" and dry["dryRun"] is True
    assert (dry["created"], dry["updated"], dry["failed"]) == (ROWS - 1 - len(bad), 1, len(bad))
    assert await contact_count(db_engine, admin.account_id) == 1

    seen: list[int] = []
    done = await wait_done(gql, admin, await start(gql, admin, data), seen)
    assert done["status"] == "DONE" and done["total"] == done["processed"] == ROWS
    assert (done["created"], done["updated"], done["unchanged"], done["failed"]) == (
        ROWS - 1 - len(bad),
        1,
        0,
        len(bad),
    )
    # Progress grows batch by batch (500 rows a batch) and was seen part way.
    assert seen == sorted(seen) and all(p % 500 == 0 for p in seen)
    assert any(0 < p < ROWS for p in seen), seen
    row_errors = {e["row"]: e["code"] for e in done["errors"] if e["code"] != "UNKNOWN_COLUMN"}
    assert row_errors == bad
    assert [e for e in done["errors"] if e["code"] == "UNKNOWN_COLUMN"] == [
        {"row": 1, "field": "favourite_colour", "code": "UNKNOWN_COLUMN", "message": done["errors"][0]["message"]}
    ]
    assert await contact_count(db_engine, admin.account_id) == ROWS - len(bad)
    async with db_engine.connect() as c:
        labelled = (await c.execute(text("SELECT count(*) FROM contact_labels"))).scalar_one()
        plan = (
            await c.execute(text("SELECT custom_attributes FROM contacts WHERE email = 'p7@example.test'"))
        ).scalar_one()
        renamed = (await c.execute(text("SELECT name FROM contacts WHERE email = 'p10@example.test'"))).scalar_one()
    assert labelled == ROWS // 2 and plan == {"plan": "gold"} and renamed == "Person 10"

    again = await wait_done(gql, admin, await start(gql, admin, data))
    assert (again["created"], again["updated"], again["unchanged"], again["failed"]) == (
        0,
        0,
        ROWS - len(bad),
        len(bad),
    )
    assert await contact_count(db_engine, admin.account_id) == ROWS - len(bad)


async def test_export_round_trips_and_escapes_formulas(gql, smtp, server, db_engine):
    admin = await signup(gql)
    h = admin.headers()
    assert (await gql.data(LABEL_CREATE, {"t": "vip"}, headers=h))["labelCreate"]["errors"] == []
    data = _csv(
        [
            ["name", "email", "phone_number", "labels"],
            ["=cmd|' /C calc'!A0", "a@example.test", "+4930123456", "vip"],
            ["@SUM(1)", "b@example.test", "", ""],
            ["Plain", "", "+4930999999", ""],
        ]
    )
    first = await wait_done(gql, admin, await start(gql, admin, data))
    assert (first["created"], first["failed"]) == (3, 0), first
    exported = (await gql.data(EXPORT, {}, headers=h))["contactsExport"]
    assert exported["errors"] == [] and exported["rowCount"] == 3
    body = await _download(exported["downloadUrl"], server)
    rows = list(csv.DictReader(io.StringIO(body)))
    by_email = {r["email"]: r for r in rows}
    assert by_email["a@example.test"]["name"] == "'=cmd|' /C calc'!A0"
    assert by_email["a@example.test"]["phone_number"] == "'+4930123456"
    assert by_email["a@example.test"]["labels"] == "vip"
    assert by_email["b@example.test"]["name"] == "'@SUM(1)"
    # The exported file imports back as what is there: nothing changes.
    back = await wait_done(gql, admin, await start(gql, admin, body))
    assert (back["created"], back["updated"], back["unchanged"], back["failed"]) == (0, 0, 3, 0), back
    # A label narrows the export.
    only = (await gql.data(EXPORT, {"label": "VIP"}, headers=h))["contactsExport"]
    assert only["rowCount"] == 1


async def test_bad_files_are_refused_and_imports_are_the_accounts_administrators_own(gql, smtp, server):
    admin = await signup(gql)
    other = await signup(gql, account="Other")
    agent = await add_agent(gql, admin, smtp)
    import_id = await start(gql, admin, "email\nx@example.test\n")
    await wait_done(gql, admin, import_id)
    # Another account's administrator does not find it.
    body = await gql.execute(PROGRESS, {"id": import_id}, headers=other.headers())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    # Agents neither import, export nor read imports.
    for query, variables in (
        (IMPORT, {"csv": "email\ny@example.test\n", "dry": False}),
        (EXPORT, {}),
        (PROGRESS, {"id": import_id}),
    ):
        body = await gql.execute(query, variables, headers=agent.headers())
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    # A file without a column to match contacts by is refused with a typed error, and nothing is queued.
    refused = (await gql.data(IMPORT, {"csv": "name\nAda\n", "dry": False}, headers=admin.headers()))["contactsImport"]
    assert refused["contactImport"] is None and [e["code"] for e in refused["errors"]] == ["INVALID"]
    empty = (await gql.data(IMPORT, {"csv": "", "dry": False}, headers=admin.headers()))["contactsImport"]
    assert [e["code"] for e in empty["errors"]] == ["REQUIRED"]


async def test_the_command_line_import_shows_progress_and_matches_the_mutation(gql, smtp, server, settings, tmp_path):
    from tests.conftest import TEST_DATABASE_URL

    admin = await signup(gql)
    rows = [["email", "name"], *([f"cli{n}@example.test", f"C {n}"] for n in range(1_200)), ["bad", "B"]]
    path = tmp_path / "contacts.csv"
    path.write_text(_csv(rows))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_ENV="test",
        PARLEY_DATABASE_URL=TEST_DATABASE_URL,
        PARLEY_SECRET_KEY=settings.secret_key,
        PARLEY_DATA_DIR=str(settings.data_dir),
        PARLEY_LOG_LEVEL="WARNING",
    )
    account = str(decode_id(admin.account_id, "Account"))
    base = [sys.executable, "-m", "parley.cli", "contacts", "import", str(path), "--account", account]

    def run(*extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*base, *extra], env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done

    dry = run("--dry-run")
    assert b"1201 rows: 1200 would be created, 0 would be updated, 0 unchanged, 1 refused" in dry.stdout
    first = run()
    progress = [line for line in first.stderr.decode().splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in progress] == ["500/1201", "1000/1201", "1201/1201"]
    assert "row 1202: email INVALID_EMAIL" in first.stderr.decode()
    assert b"1201 rows: 1200 created, 0 updated, 0 unchanged, 1 refused" in first.stdout
    again = run()
    assert b"1201 rows: 0 created, 0 updated, 1200 unchanged, 1 refused" in again.stdout
