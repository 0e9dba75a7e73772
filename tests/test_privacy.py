"""Privacy duties, through GraphQL with the server's worker and storage: a contact's data export (a ZIP
with their records and files), their erasure (the person gone from rows, storage and search; the
conversations and report numbers kept) and retention policies applied by the scheduler's pass."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date

import httpx
from sqlalchemy import text

from db.session import create_session_factory
from domain.storage import get_storage
from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, build_desk
from tests.test_attachments import SEND, png, request_upload, storage_key, wait_for

EXPORT = f"""mutation($c: ID!) {{ contactDataExport(contactId: $c) {{ contactDataExport {{ id status contactId }}
  {ERR} }} }}"""
JOB = "query($id: ID!) { contactDataExportJob(id: $id) { id status byteSize downloadUrl error } }"
ERASE = f"""mutation($c: ID!) {{ contactErase(contactId: $c) {{ erasedAt contact {{ id name email phoneNumber
  identifier }} {ERR} }} }}"""
SEARCH = """query($q: String!) { search(query: $q) { conversations { id } messages { message { id content } }
  contacts { id } } }"""
RETENTION = f"""mutation($input: RetentionPolicyUpdateInput!) {{ retentionPolicyUpdate(input: $input) {{
  retentionPolicy {{ messageDays attachmentDays }} {ERR} }} }}"""
AUDIT = """query($a: String) { auditLogs(first: 20, action: $a) { edges { node { action targetId changes } } } }"""
SUMMARY = """query($i: ReportInput!) { report(input: $i) { summary { conversationsOpened conversationsResolved
  incomingMessages outgoingMessages } } }"""


def code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


async def scalar(db_engine, sql: str, **params):
    async with db_engine.connect() as c:
        return (await c.execute(text(sql), params)).scalar()


async def wait_export(gql, who, export_id: str) -> dict:
    found: dict = {}

    async def done() -> bool:
        found.update((await gql.data(JOB, {"id": export_id}, headers=who.headers()))["contactDataExportJob"])
        return found["status"] in ("DONE", "FAILED")

    await wait_for(done, timeout=60)
    return found


def on_server(url: str, server) -> str:
    """Links name the public URL the settings give; the test server listens elsewhere."""
    return server.url.rstrip("/") + "/" + url.split("/", 3)[3]


async def uploaded(desk, server, name: str, ctype: str, data: bytes) -> str:
    payload = await request_upload(desk, desk.agent, name, ctype, len(data))
    assert payload["errors"] == [], payload
    upload = payload["upload"]
    async with httpx.AsyncClient(timeout=20) as http:
        headers = {h["name"]: h["value"] for h in upload["headers"]}
        response = await http.request(upload["method"], on_server(upload["url"], server), content=data, headers=headers)
    assert response.status_code in (200, 201, 204), response.text
    return payload["attachment"]["id"]


async def stored(server, key: str) -> bool:
    return await get_storage(server.settings).head(key) is not None


async def carla_with_history(desk, server, note: str = "Prefers calls after 5pm") -> dict:
    """Carla's conversation: her message, an agent's reply with a photo, a note about her; resolved."""
    conversation = await desk.new_conversation("My zanzibar order 4711 never came")
    photo = await uploaded(desk, server, "receipt.png", "image/png", png())
    body = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "Sorry, resending now", "a": [photo]})
    assert body["messageCreate"]["errors"] == [], body
    noted = await desk.data(
        desk.agent,
        f"mutation($c: ID!, $t: String!) {{ contactNoteCreate(contactId: $c, content: $t) {{ note {{ id }} {ERR} }} }}",
        {"c": desk.contact_id, "t": note},
    )
    assert noted["contactNoteCreate"]["errors"] == [], noted
    resolved = await desk.data(
        desk.agent,
        f"mutation($id: ID!) {{ conversationStatusUpdate(id: $id, input: {{status: RESOLVED}}) {{ {ERR} }} }}",
        {"id": conversation["id"]},
    )
    assert resolved["conversationStatusUpdate"]["errors"] == []
    return {"conversation": conversation, "photo": photo}


async def test_a_contact_data_export_holds_their_records_and_files(gql, smtp, server, db_engine):
    desk = await build_desk(gql, smtp)
    made = await carla_with_history(desk, server)
    # Only administrators ask for it.
    body = await desk.run(desk.agent, EXPORT, {"c": desk.contact_id})
    assert code(body) == "FORBIDDEN"
    queued = (await desk.data(desk.admin, EXPORT, {"c": desk.contact_id}))["contactDataExport"]
    assert queued["errors"] == [] and queued["contactDataExport"]["status"] == "QUEUED"
    assert queued["contactDataExport"]["contactId"] == desk.contact_id
    job = await wait_export(gql, desk.admin, queued["contactDataExport"]["id"])
    assert job["status"] == "DONE" and job["error"] is None and job["byteSize"] > 0, job
    async with httpx.AsyncClient(timeout=20) as http:
        got = await http.get(on_server(job["downloadUrl"], server))
    assert got.status_code == 200 and got.headers["content-disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    photo_pk = decode_id(made["photo"], "Attachment")
    assert sorted(archive.namelist()) == [
        f"attachments/{photo_pk}-receipt.png",
        "audit.json",
        "contact.json",
        "conversations.json",
    ]
    assert archive.read(f"attachments/{photo_pk}-receipt.png") == png()
    contact = json.loads(archive.read("contact.json"))
    assert (contact["name"], contact["email"]) == ("Carla Customer", "carla@example.test")
    assert [n["content"] for n in contact["notes"]] == ["Prefers calls after 5pm"]
    [conversation] = json.loads(archive.read("conversations.json"))
    contents = [m["content"] for m in conversation["messages"] if m["message_type"] in ("incoming", "outgoing")]
    assert contents == ["My zanzibar order 4711 never came", "Sorry, resending now"]
    assert [m["attachment_ids"] for m in conversation["messages"] if m["content"] == "Sorry, resending now"] == [
        [photo_pk]
    ]
    assert conversation["status"] == "resolved" and conversation["csat"] == []
    audit = json.loads(archive.read("audit.json"))
    assert audit["export"]["messages"] == len(conversation["messages"])
    assert (audit["export"]["conversations"], audit["export"]["notes"]) == (1, 1)
    assert [a["path"] for a in audit["export"]["attachments"]] == [f"attachments/{photo_pk}-receipt.png"]
    assert [a["action"] for a in audit["auditLog"]] == ["contact.data_export"]
    logged = await desk.data(desk.admin, AUDIT)
    actions = [e["node"]["action"] for e in logged["auditLogs"]["edges"]]
    assert actions[:2] == ["contact.data_export_completed", "contact.data_export"]

    # Another account's administrator finds neither the export nor the contact.
    other = await signup(gql, account="Other")
    assert code(await gql.execute(JOB, {"id": queued["contactDataExport"]["id"]}, headers=other.headers())) == (
        "NOT_FOUND"
    )
    assert code(await gql.execute(EXPORT, {"c": desk.contact_id}, headers=other.headers())) == "NOT_FOUND"
    assert code(await gql.execute(ERASE, {"c": desk.contact_id}, headers=other.headers())) == "NOT_FOUND"
    assert await scalar(db_engine, "SELECT count(*) FROM contacts WHERE erased_at IS NOT NULL") == 0


async def test_erasure_removes_the_person_and_keeps_conversations_and_report_numbers(gql, smtp, server, db_engine):
    desk = await build_desk(gql, smtp)
    made = await carla_with_history(desk, server)
    other_contact = await desk.data(
        desk.admin,
        f'mutation {{ contactCreate(input: {{name: "Otto Other", email: "otto@example.test"}}) {{ contact {{ id }} {ERR} }} }}',
    )
    otto = other_contact["contactCreate"]["contact"]["id"]
    await desk.new_conversation("A zanzibar question from Otto", contact_id=otto)
    exported = (await desk.data(desk.admin, EXPORT, {"c": desk.contact_id}))["contactDataExport"]["contactDataExport"]
    await wait_export(gql, desk.admin, exported["id"])
    zip_key = await scalar(db_engine, "SELECT storage_key FROM contact_data_exports")
    photo_key = await storage_key(db_engine, made["photo"])
    assert await stored(server, zip_key) and await stored(server, photo_key)
    carla_pk = decode_id(desk.contact_id, "Contact")

    today = date.today().isoformat()
    report_input = {"i": {"since": today, "until": today}}

    async def report() -> dict:
        return (await desk.data(desk.admin, SUMMARY, report_input))["report"]["summary"]

    async def counted() -> bool:  # the reporting consumer has caught up
        s = await report()
        return s["incomingMessages"] == 2 and s["outgoingMessages"] == 1 and s["conversationsResolved"] == 1

    await wait_for(counted, timeout=30)
    before = await report()
    searched = await desk.data(desk.admin, SEARCH, {"q": "zanzibar"})
    assert len(searched["search"]["messages"]) == 2
    assert [c["id"] for c in (await desk.data(desk.admin, SEARCH, {"q": "carla"}))["search"]["contacts"]] == [
        desk.contact_id
    ]
    rows_before = {
        t: await scalar(db_engine, f"SELECT count(*) FROM {t}")
        for t in ("messages", "conversations", "contacts", "reporting_events")
    }

    assert code(await desk.run(desk.agent, ERASE, {"c": desk.contact_id})) == "FORBIDDEN"
    erased = (await desk.data(desk.admin, ERASE, {"c": desk.contact_id}))["contactErase"]
    assert erased["errors"] == [] and erased["erasedAt"] is not None
    assert erased["contact"] == {
        "id": desk.contact_id,
        "name": "",
        "email": None,
        "phoneNumber": None,
        "identifier": None,
    }

    # What stays: every row reports count, the agent's reply, the other contact, the report numbers.
    for table, count in rows_before.items():
        assert await scalar(db_engine, f"SELECT count(*) FROM {table}") == count, table
    assert await report() == before
    assert await scalar(db_engine, "SELECT count(*) FROM messages WHERE content = 'Sorry, resending now'") == 1
    assert await scalar(db_engine, "SELECT name FROM contacts WHERE email = 'otto@example.test'") == "Otto Other"

    # What is gone: her content and search vector, her files and earlier exports, notes about her.
    assert (
        await scalar(
            db_engine,
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = :c "
            "AND m.sender_type = 'contact' AND (m.content <> '' OR m.content_tsv <> ''::tsvector)",
            c=carla_pk,
        )
        == 0
    )
    assert await scalar(db_engine, "SELECT count(*) FROM messages WHERE content LIKE '%4711%'") == 0
    assert await scalar(db_engine, "SELECT count(*) FROM attachments") == 0
    assert await scalar(db_engine, "SELECT count(*) FROM contact_notes") == 0
    assert await scalar(db_engine, "SELECT count(*) FROM contact_data_exports") == 0
    assert (
        await scalar(
            db_engine,
            "SELECT count(*) FROM contacts WHERE id = :c AND erased_at IS NOT NULL AND additional_attributes = '{}' "
            "AND custom_attributes = '{}'",
            c=carla_pk,
        )
        == 1
    )
    assert (
        await scalar(
            db_engine,
            "SELECT count(*) FROM contact_inboxes WHERE source_id NOT LIKE 'erased-%' AND contact_id = :c",
            c=carla_pk,
        )
        == 0
    )

    async def objects_gone() -> bool:
        return not await stored(server, photo_key) and not await stored(server, zip_key)

    await wait_for(objects_gone, timeout=30)
    searched = await desk.data(desk.admin, SEARCH, {"q": "zanzibar"})
    assert [m["message"]["content"] for m in searched["search"]["messages"]] == ["A zanzibar question from Otto"]
    for q in ("carla", "carla@example.test", "4711"):
        found = (await desk.data(desk.admin, SEARCH, {"q": q}))["search"]
        assert found["contacts"] == [] and found["conversations"] == [] and found["messages"] == [], (q, found)
    # The conversation stays, resolved, with its contact anonymised.
    still = await desk.conversation(desk.admin, made["conversation"]["id"])
    assert still["data"]["conversation"]["status"] == "RESOLVED"
    assert still["data"]["conversation"]["contact"] == {"id": desk.contact_id, "name": ""}

    # Audited with counts only; a second erasure is refused and changes nothing.
    [entry] = (await desk.data(desk.admin, AUDIT, {"a": "contact.erase"}))["auditLogs"]["edges"]
    assert entry["node"]["targetId"] == str(carla_pk)
    assert entry["node"]["changes"]["attachments"] == 1 and entry["node"]["changes"]["dataExports"] == 1
    assert "carla" not in json.dumps(entry).lower()
    again = (await desk.data(desk.admin, ERASE, {"c": desk.contact_id}))["contactErase"]
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("contactId", "ALREADY_ERASED")]
    assert len((await desk.data(desk.admin, AUDIT, {"a": "contact.erase"}))["auditLogs"]["edges"]) == 1


async def test_retention_policies_are_applied_in_batches_by_the_scheduler(gql, smtp, server, db_engine):
    from domain.events import Relay, unit_of_work
    from domain.privacy import retention

    desk = await build_desk(gql, smtp)
    made = await carla_with_history(desk, server)
    for n in range(4):
        await desk.incoming(made["conversation"]["id"], f"old message {n}")
    await desk.incoming(made["conversation"]["id"], "recent message")

    # Administrators set it; bad values are refused and change nothing.
    assert code(await desk.run(desk.agent, RETENTION, {"input": {"messageDays": 30}})) == "FORBIDDEN"
    bad = await desk.data(desk.admin, RETENTION, {"input": {"messageDays": 0, "attachmentDays": 36_501}})
    assert [(e["field"], e["code"]) for e in bad["retentionPolicyUpdate"]["errors"]] == [
        ("messageDays", "OUT_OF_RANGE"),
        ("attachmentDays", "OUT_OF_RANGE"),
    ]
    policy = "{ retentionPolicy { messageDays attachmentDays } }"
    assert (await desk.data(desk.admin, policy))["retentionPolicy"] == {"messageDays": None, "attachmentDays": None}
    set_ = await desk.data(desk.admin, RETENTION, {"input": {"messageDays": 30, "attachmentDays": 7}})
    assert set_["retentionPolicyUpdate"]["retentionPolicy"] == {"messageDays": 30, "attachmentDays": 7}
    only = await desk.data(desk.admin, RETENTION, {"input": {"attachmentDays": 10}})
    assert only["retentionPolicyUpdate"]["retentionPolicy"] == {"messageDays": 30, "attachmentDays": 10}

    # Four old messages and the photo are past their time; another account's old rows are not touched.
    photo_key = await storage_key(db_engine, made["photo"])
    account_pk = decode_id(desk.admin.account_id, "Account")
    other = await build_desk(gql, smtp)
    other_conversation = await other.new_conversation("kept forever")
    async with db_engine.begin() as c:
        await c.execute(
            text(
                "UPDATE messages SET created_at = now() - interval '40 days' "
                "WHERE content LIKE 'old message %' OR content = 'kept forever'"
            )
        )
        await c.execute(
            text("UPDATE attachments SET created_at = now() - interval '11 days' WHERE account_id = :a"),
            {"a": account_pk},
        )
    total = await scalar(db_engine, "SELECT count(*) FROM messages WHERE account_id = :a", a=account_pk)

    sessions = create_session_factory(db_engine)
    relay = Relay(sessions, None, None, 0.0)  # the server's outbox sweeper sends the file deletions
    done = await retention.apply_all(sessions, lambda: unit_of_work(sessions, relay), batch=3)
    assert (done.messages, done.attachments) == (4, 1)
    assert await scalar(db_engine, "SELECT count(*) FROM messages WHERE account_id = :a", a=account_pk) == total
    assert await scalar(db_engine, "SELECT count(*) FROM messages WHERE content LIKE 'old message %'") == 0
    assert (
        await scalar(
            db_engine,
            "SELECT count(*) FROM messages WHERE account_id = :a AND content = '' AND deleted_at IS NOT NULL "
            "AND content_attributes ->> 'retention' = 'true'",
            a=account_pk,
        )
        == 4
    )
    assert await scalar(db_engine, "SELECT count(*) FROM messages WHERE content = 'recent message'") == 1
    assert await scalar(db_engine, "SELECT count(*) FROM messages WHERE content = 'kept forever'") == 1
    assert await scalar(db_engine, "SELECT count(*) FROM attachments WHERE account_id = :a", a=account_pk) == 0

    async def object_gone() -> bool:
        return not await stored(server, photo_key)

    await wait_for(object_gone, timeout=30)
    # Batches of 3: two audit rows for the messages (3 + 1), the photo in the first.
    logged = (await desk.data(desk.admin, AUDIT, {"a": "retention.apply"}))["auditLogs"]["edges"]
    assert [e["node"]["changes"] for e in logged] == [
        {"messages": 1, "attachments": 0},
        {"messages": 3, "attachments": 1},
    ]
    updates = (await desk.data(desk.admin, AUDIT, {"a": "retention.update"}))["auditLogs"]["edges"]
    assert [e["node"]["changes"] for e in updates] == [
        {"attachmentDays": [7, 10]},
        {"messageDays": [None, 30], "attachmentDays": [None, 7]},
    ]
    # A second pass finds nothing more to do.
    again = await retention.apply_all(sessions, lambda: unit_of_work(sessions, relay), batch=3)
    assert (again.messages, again.attachments) == (0, 0)
    assert other_conversation["id"]
