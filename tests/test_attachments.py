"""Attachments end to end on both storage backends: S3 through moto's server mode (real HTTP through
aiobotocore) and local disk served by Parley. Uploads are real presigned POSTs/PUTs; then attach,
download, the refusals, and the cleanup jobs. Expiry and policy, which moto does not enforce, are
checked on the URLs we generate."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from domain.storage import get_storage
from domain.storage.local import LocalStorage, SignatureError
from domain.storage.s3 import S3Config, S3Storage
from schema.core.ids import decode_id
from tests.conftest import make_settings
from tests.support.accounts import signup
from tests.support.desk import ERR, build_desk
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer
from tests.test_query_counts import count_statements

BUCKET = "parley-attachments"
UPLOAD = """mutation($n: String!, $t: String!, $s: Int!) {
  attachmentUploadCreate(input: {fileName: $n, contentType: $t, byteSize: $s}) {
    attachment { id status fileName byteSize contentType fileType downloadUrl }
    upload { url method fields { name value } headers { name value } expiresAt }
    errors { field code message } } }"""
SEND = f"""mutation($c: ID!, $t: String!, $a: [ID!]!) {{
  messageCreate(input: {{conversationId: $c, content: $t, attachmentIds: $a}}) {{
    message {{ id content attachments {{ id fileType fileName byteSize contentType width height status
      downloadUrl inlineUrl: downloadUrl(inline: true) }} }} {ERR} }} }}"""


def png(width: int = 3, height: int = 2, padding: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * (width * 3 + 1) * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body + b"\x00" * padding) + chunk(b"IEND", b"")


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


# --- servers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    moto.stop()


def _settings(tmp, smtp_server, namespace: str, **overrides):
    # Each server its own job namespace: a job must run on the worker of the server that queued it.
    return make_settings(
        tmp,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        dramatiq_namespace=namespace,
        **overrides,
    )


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory, database_url, smtp_server, moto_endpoint) -> Iterator[LiveServer]:
    settings = _settings(
        tmp_path_factory.mktemp("attach-s3"),
        smtp_server,
        "parley-attach-s3",
        s3_bucket=BUCKET,
        s3_endpoint_url=moto_endpoint,
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
        s3_region="us-east-1",
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture(scope="module")
def local_server(tmp_path_factory, database_url, smtp_server) -> Iterator[LiveServer]:
    settings = _settings(
        tmp_path_factory.mktemp("attach-local"),
        smtp_server,
        "parley-attach-local",
        storage_max_upload_bytes=2 * 1024 * 1024,
    )
    live = LiveServer(settings)
    settings.storage_public_url = live.url  # the port is known only now; storage is built on first use
    with live:
        yield live


_job_resources: dict[int, object] = {}


@pytest.fixture(params=["local", "s3"])
def backend(request) -> Iterator[LiveServer]:
    """The server under test. Jobs read their settings (the storage) from the worker runtime, which
    is one per process: with several in-process servers here, point it at this one for the test."""
    from workers import runtime

    server = request.getfixturevalue(f"{request.param}_server")
    if id(server) not in _job_resources:
        _job_resources[id(server)] = runtime.Resources(server.settings, server.app.state.broker)
    previous = runtime._resources
    runtime._resources = _job_resources[id(server)]
    yield server
    runtime._resources = previous


@pytest.fixture
async def client(backend: LiveServer) -> AsyncIterator[GraphQLHTTP]:
    gql = GraphQLHTTP(backend.url)
    yield gql
    await gql.aclose()


# --- helpers --------------------------------------------------------------------------------------


async def request_upload(desk, who, name: str, ctype: str, size: int) -> dict:
    body = await desk.data(who, UPLOAD, {"n": name, "t": ctype, "s": size})
    return body["attachmentUploadCreate"]


async def put_file(upload: dict, data: bytes, ctype: str) -> httpx.Response:
    """What a browser does with the presigned upload."""
    async with httpx.AsyncClient(timeout=20) as http:
        if upload["method"] == "POST":
            fields = {f["name"]: f["value"] for f in upload["fields"]}
            return await http.post(upload["url"], data=fields, files={"file": ("upload", data, ctype)})
        headers = {h["name"]: h["value"] for h in upload["headers"]}
        return await http.put(upload["url"], content=data, headers=headers)


async def uploaded(desk, who, name: str, ctype: str, data: bytes, declared: int | None = None) -> str:
    payload = await request_upload(desk, who, name, ctype, declared or len(data))
    assert payload["errors"] == [], payload
    response = await put_file(payload["upload"], data, ctype)
    assert response.status_code in (200, 201, 204), response.text
    return payload["attachment"]["id"]


async def exists(server: LiveServer, attachment_key: str) -> bool:
    return await get_storage(server.settings).head(attachment_key) is not None


async def storage_key(db_engine, attachment_id: str) -> str | None:
    async with db_engine.connect() as c:
        return (
            await c.execute(
                text("SELECT storage_key FROM attachments WHERE id = :i"), {"i": decode_id(attachment_id, "Attachment")}
            )
        ).scalar()


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


# --- the flow -------------------------------------------------------------------------------------


async def test_upload_attach_and_download(client, backend, smtp, db_engine):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    image = png(3, 2)
    payload = await request_upload(desk, desk.agent, "../../etc/photo.png", "image/png", len(image))
    assert payload["errors"] == []
    assert payload["attachment"]["status"] == "PENDING" and payload["attachment"]["downloadUrl"] is None
    assert payload["attachment"]["fileName"] == "photo.png"
    assert payload["upload"]["method"] == ("POST" if backend.settings.s3_bucket else "PUT")
    assert (await put_file(payload["upload"], image, "image/png")).status_code in (200, 201, 204)
    pdf_id = await uploaded(desk, desk.agent, "Rechnung März.pdf", "application/pdf", b"%PDF-1.4\n" + b"x" * 100)

    body = await desk.data(
        desk.agent, SEND, {"c": conversation["id"], "t": "", "a": [payload["attachment"]["id"], pdf_id]}
    )
    assert body["messageCreate"]["errors"] == [], body
    files = body["messageCreate"]["message"]["attachments"]
    assert [(f["fileType"], f["fileName"], f["status"]) for f in files] == [
        ("IMAGE", "photo.png", "ATTACHED"),
        ("FILE", "Rechnung März.pdf", "ATTACHED"),
    ]
    assert (files[0]["width"], files[0]["height"], files[0]["byteSize"]) == (3, 2, len(image))
    assert files[1]["width"] is None

    async with httpx.AsyncClient(timeout=20) as http:
        got = await http.get(files[0]["downloadUrl"])
        assert got.status_code == 200 and got.content == image
        assert got.headers["content-type"].startswith("image/png")
        assert got.headers["content-disposition"].startswith("attachment;")
        inline = await http.get(files[0]["inlineUrl"])
        assert inline.headers["content-disposition"].startswith("inline;")
        pdf = await http.get(files[1]["inlineUrl"])  # documents never inline
        assert pdf.headers["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in pdf.headers["content-disposition"]
        if not backend.settings.s3_bucket:
            assert got.headers["x-content-type-options"] == "nosniff"

    # The message list shows them too; the administrator sees them, the attachment query answers.
    listed = await desk.data(
        desk.admin,
        """query($id: ID!) { conversation(id: $id) { messages(first: 5) {
      edges { node { content attachments { fileName } } } } } }""",
        {"id": conversation["id"]},
    )
    names = [[a["fileName"] for a in e["node"]["attachments"]] for e in listed["conversation"]["messages"]["edges"]]
    assert ["photo.png", "Rechnung März.pdf"] in names
    one = await desk.data(desk.admin, "query($id: ID!) { attachment(id: $id) { fileName status } }", {"id": pdf_id})
    assert one["attachment"] == {"fileName": "Rechnung März.pdf", "status": "ATTACHED"}


async def test_svg_is_never_served_inline(client, backend, smtp):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    svg_id = await uploaded(desk, desk.agent, "logo.svg", "image/svg+xml", SVG)
    body = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "logo", "a": [svg_id]})
    assert body["messageCreate"]["errors"] == [], body
    url = body["messageCreate"]["message"]["attachments"][0]["inlineUrl"]
    async with httpx.AsyncClient(timeout=20) as http:
        got = await http.get(url)
    assert got.status_code == 200
    assert got.headers["content-disposition"].startswith("attachment;")


async def test_upload_requests_are_checked(client, backend, smtp):
    desk = await build_desk(client, smtp)
    cases = [
        ("page.html", "text/html", 10, [("contentType", "UNSUPPORTED_TYPE")]),
        ("big.png", "image/png", 100 * 1024 * 1024, [("byteSize", "TOO_LARGE")]),
        ("empty.txt", "text/plain", 0, [("byteSize", "INVALID")]),
        ("", "image/png", 10, [("fileName", "REQUIRED")]),
    ]
    for name, ctype, size, expected in cases:
        payload = await request_upload(desk, desk.agent, name, ctype, size)
        assert [(e["field"], e["code"]) for e in payload["errors"]] == expected, payload
        assert payload["attachment"] is None and payload["upload"] is None
        assert all(e["message"] for e in payload["errors"])


async def test_size_and_type_mismatches_are_refused_and_nothing_changes(client, backend, smtp):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    short = await uploaded(desk, desk.agent, "short.png", "image/png", png(), declared=len(png()) + 50)
    fake = await uploaded(
        desk, desk.agent, "fake.png", "image/png", b"<html><script>alert(1)</script></html>" + b" " * 40
    )
    missing = (await request_upload(desk, desk.agent, "never.png", "image/png", 100))["attachment"]["id"]
    good = await uploaded(desk, desk.agent, "good.png", "image/png", png())

    body = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "files", "a": [good, short, fake, missing]})
    errors = body["messageCreate"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("attachmentIds.1", "SIZE_MISMATCH"),
        ("attachmentIds.2", "TYPE_MISMATCH"),
        ("attachmentIds.3", "NOT_UPLOADED"),
    ]
    assert body["messageCreate"]["message"] is None
    after = await desk.data(
        desk.agent,
        "query($id: ID!) { conversation(id: $id) { messages { edges { node { content } } } } }",
        {"id": conversation["id"]},
    )
    assert "files" not in [e["node"]["content"] for e in after["conversation"]["messages"]["edges"]]
    # The good one is still pending and can be attached on its own.
    ok = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "files", "a": [good]})
    assert ok["messageCreate"]["errors"] == []
    again = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "again", "a": [good]})
    assert [(e["field"], e["code"]) for e in again["messageCreate"]["errors"]] == [
        ("attachmentIds.0", "ALREADY_ATTACHED")
    ]


async def test_at_most_fifteen_attachments(client, backend, smtp):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    ids = [
        (await request_upload(desk, desk.agent, f"f{i}.png", "image/png", 10))["attachment"]["id"] for i in range(16)
    ]
    body = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "many", "a": ids})
    errors = body["messageCreate"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("attachmentIds", "TOO_MANY")]
    assert "15" in errors[0]["message"]


async def test_other_accounts_and_agents_can_neither_download_nor_attach(client, backend, smtp):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    file_id = await uploaded(desk, desk.agent, "secret.png", "image/png", png())
    pending = await uploaded(desk, desk.agent, "pending.png", "image/png", png())
    sent = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "secret", "a": [file_id]})
    assert sent["messageCreate"]["errors"] == []

    other = await signup(client, account="Other")
    query = "query($id: ID!) { attachment(id: $id) { id downloadUrl } }"
    for who, headers in ((other, other.headers()), (desk.admin, desk.admin.headers(other.account_id))):
        body = await client.execute(query, {"id": file_id}, headers=headers)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND" if who is other else "FORBIDDEN"], body
    # An agent of the account who does not work the inbox, and another agent's pending upload.
    body = await desk.run(desk.outsider, query, {"id": file_id})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await desk.run(desk.outsider, query, {"id": pending})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # Account B attaches A's upload to its own conversation: not found, and A's file stays pending.
    inbox = await client.data(
        'mutation { inboxCreate(input: {name: "O", channelType: API}) { inbox { id } } }', headers=other.headers()
    )
    contact = await client.data(
        'mutation { contactCreate(input: {name: "O"}) { contact { id } } }', headers=other.headers()
    )
    conv = await client.data(
        "mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c}) "
        "{ conversation { id } } }",
        {"i": inbox["inboxCreate"]["inbox"]["id"], "c": contact["contactCreate"]["contact"]["id"]},
        headers=other.headers(),
    )
    stolen = await client.data(
        SEND,
        {"c": conv["conversationCreate"]["conversation"]["id"], "t": "mine", "a": [pending]},
        headers=other.headers(),
    )
    assert [(e["field"], e["code"]) for e in stolen["messageCreate"]["errors"]] == [("attachmentIds.0", "NOT_FOUND")]
    # Within the account, an administrator cannot attach the agent's pending upload either.
    taken = await desk.data(desk.admin, SEND, {"c": conversation["id"], "t": "mine now", "a": [pending]})
    assert [(e["field"], e["code"]) for e in taken["messageCreate"]["errors"]] == [("attachmentIds.0", "NOT_FOUND")]
    mine = await desk.data(desk.agent, query, {"id": pending})
    assert mine["attachment"]["downloadUrl"] is None  # still pending, still the agent's


# --- cleanup --------------------------------------------------------------------------------------


async def test_deleting_a_message_removes_its_files(client, backend, smtp, db_engine):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    file_id = await uploaded(desk, desk.agent, "gone.png", "image/png", png())
    sent = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "bye", "a": [file_id]})
    key = await storage_key(db_engine, file_id)
    assert await exists(backend, key)
    deleted = await desk.data(
        desk.agent,
        f"mutation($id: ID!) {{ messageDelete(id: $id) {{ message {{ attachments {{ id }} }} {ERR} }} }}",
        {"id": sent["messageCreate"]["message"]["id"]},
    )
    assert deleted["messageDelete"] == {"message": {"attachments": []}, "errors": []}
    assert await storage_key(db_engine, file_id) is None

    async def gone() -> bool:
        return not await exists(backend, key)

    await wait_for(gone)


async def test_deleting_a_contact_removes_the_files_of_their_conversations(client, backend, smtp, db_engine):
    desk = await build_desk(client, smtp)
    conversation = await desk.new_conversation()
    file_id = await uploaded(desk, desk.agent, "contract.pdf", "application/pdf", b"%PDF-1.7\n" + b"y" * 200)
    sent = await desk.data(desk.agent, SEND, {"c": conversation["id"], "t": "contract", "a": [file_id]})
    assert sent["messageCreate"]["errors"] == []
    key = await storage_key(db_engine, file_id)
    body = await desk.data(
        desk.admin, f"mutation($id: ID!) {{ contactDelete(id: $id) {{ {ERR} }} }}", {"id": desk.contact_id}
    )
    assert body["contactDelete"]["errors"] == []

    async def gone() -> bool:
        return not await exists(backend, key)

    await wait_for(gone)
    assert await storage_key(db_engine, file_id) is None


async def test_orphaned_uploads_are_swept_after_a_day(client, backend, smtp, db_engine):
    from workers.actors.attachments import attachments_delete_objects, attachments_sweep_orphans

    desk = await build_desk(client, smtp)
    old = await uploaded(desk, desk.agent, "old.png", "image/png", png())
    fresh = await uploaded(desk, desk.agent, "fresh.png", "image/png", png())
    old_key, fresh_key = await storage_key(db_engine, old), await storage_key(db_engine, fresh)
    async with db_engine.begin() as c:
        await c.execute(
            text("UPDATE attachments SET created_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(hours=25), "i": decode_id(old, "Attachment")},
        )
    broker = backend.app.state.broker
    await asyncio.to_thread(broker.enqueue, attachments_sweep_orphans.message())

    async def swept() -> bool:
        return await storage_key(db_engine, old) is None

    await wait_for(swept)
    assert not await exists(backend, old_key)
    assert await exists(backend, fresh_key) and await storage_key(db_engine, fresh) == fresh_key
    # The delete job is idempotent: deleting a key that is gone again succeeds.
    await asyncio.to_thread(broker.enqueue, attachments_delete_objects.message(keys=[old_key, fresh_key]))

    async def fresh_gone() -> bool:
        return not await exists(backend, fresh_key)

    await wait_for(fresh_gone)


# --- no N+1 ---------------------------------------------------------------------------------------


async def test_message_attachments_do_not_grow_statements_with_the_page(local_server, smtp, db_engine):
    gql = GraphQLHTTP(local_server.url)
    try:
        desk = await build_desk(gql, smtp)
        conversation = await desk.new_conversation()
        conv_pk = decode_id(conversation["id"], "Conversation")
        async with db_engine.begin() as c:
            row = (
                await c.execute(text("SELECT account_id, inbox_id FROM conversations WHERE id = :i"), {"i": conv_pk})
            ).one()
            for i in range(40):
                message = (
                    await c.execute(
                        text(
                            "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, "
                            "content_attributes, created_at) VALUES (:a, :c, :b, 'outgoing', :m, false, 'user', '{}', now()) RETURNING id"
                        ),
                        {"a": row.account_id, "c": conv_pk, "b": row.inbox_id, "m": f"m{i}"},
                    )
                ).scalar()
                for j in range(2):
                    await c.execute(
                        text(
                            "INSERT INTO attachments (account_id, message_id, file_type, file_name, content_type, byte_size, "
                            "storage_key, created_at, status) VALUES (:a, :m, 'image', :n, 'image/png', 10, :k, now(), 'attached')"
                        ),
                        {
                            "a": row.account_id,
                            "m": message,
                            "n": f"f{i}-{j}.png",
                            "k": f"accounts/{row.account_id}/attachments/x{i}{j}",
                        },
                    )
        query = """query($id: ID!, $n: Int) { conversation(id: $id) { messages(first: $n) { edges { node {
          id attachments { id fileName fileType width downloadUrl } } } } } }"""
        engine = local_server.app.state.services.engine
        counts = {}
        # Warm the process's credential cache first: only the query's own statements are compared.
        await desk.data(desk.agent, query, {"id": conversation["id"], "n": 1})
        for first in (5, 40):
            with count_statements(engine) as statements:
                body = await desk.data(desk.agent, query, {"id": conversation["id"], "n": first})
            edges = body["conversation"]["messages"]["edges"]
            assert sum(len(e["node"]["attachments"]) for e in edges) == 2 * first
            counts[first] = len(statements)
        assert counts[5] == counts[40], counts
    finally:
        await gql.aclose()


# --- the URLs we generate -------------------------------------------------------------------------


def test_local_urls_refuse_tampering_and_expiry(tmp_path):
    storage = LocalStorage(tmp_path, "http://files.test", b"k" * 32)
    key = "accounts/1/attachments/abc"
    url = storage.upload_url(key, content_type="image/png", max_bytes=100, expires_at=int(time.time()) + 60)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert storage.verify_upload(key, params).max_bytes == 100
    for name, value in (
        ("max", "100000"),
        ("type", "text/html"),
        ("exp", str(int(time.time()) + 10_000)),
        ("sig", params["sig"][:-2] + "AA"),
    ):
        with pytest.raises(SignatureError):
            storage.verify_upload(key, {**params, name: value})
    with pytest.raises(SignatureError):
        storage.verify_upload("accounts/2/attachments/abc", params)  # another key
    with pytest.raises(SignatureError):
        storage.verify_upload(key, params, now=time.time() + 61)  # expired
    with pytest.raises(SignatureError):
        LocalStorage(tmp_path, "http://files.test", b"o" * 32).verify_upload(key, params)  # another secret

    download = asyncio.run(storage.download_url(key, file_name="a.svg", content_type="image/svg+xml", expires_in=30))
    dparams = {k: v[0] for k, v in parse_qs(urlsplit(download).query).items()}
    assert dparams["inline"] == "0"
    assert storage.verify_download(key, dparams).inline is False
    for name, value in (("inline", "1"), ("type", "text/html"), ("name", "b.html")):
        with pytest.raises(SignatureError):
            storage.verify_download(key, {**dparams, name: value})
    with pytest.raises(SignatureError):
        storage.verify_download(key, dparams, now=time.time() + 31)


async def test_local_upload_route_enforces_what_was_signed(local_server, tmp_path):
    storage = get_storage(local_server.settings)
    assert isinstance(storage, LocalStorage)
    key = f"accounts/9/attachments/route{time.time_ns()}"
    url = storage.upload_url(key, content_type="image/png", max_bytes=50, expires_at=int(time.time()) + 60)
    expired = storage.upload_url(key, content_type="image/png", max_bytes=50, expires_at=int(time.time()) - 1)
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.put(expired, content=b"x" * 10, headers={"Content-Type": "image/png"})).status_code == 403
        assert (await http.put(url + "0", content=b"x" * 10, headers={"Content-Type": "image/png"})).status_code == 403
        assert (await http.put(url, content=b"x" * 10, headers={"Content-Type": "text/html"})).status_code == 400
        assert (await http.put(url, content=b"x" * 51, headers={"Content-Type": "image/png"})).status_code == 413
        assert await storage.head(key) is None
        assert (await http.put(url, content=b"x" * 50, headers={"Content-Type": "image/png"})).status_code == 204
        assert (await http.put(url, content=b"y" * 50, headers={"Content-Type": "image/png"})).status_code == 409
        assert await storage.read_prefix(key, 100) == b"x" * 50
        traversal = (
            local_server.url + "/files/download/accounts/../../etc/passwd?exp=9999999999&name=a&type=t&inline=0&sig=x"
        )
        assert (await http.get(traversal)).status_code in (403, 404)
        download = await storage.download_url(key, file_name="x.png", content_type="image/png", expires_in=30)
        assert (await http.get(download.replace("inline=0", "inline=1"))).status_code == 403
        got = await http.get(download)
        assert got.status_code == 200 and got.content == b"x" * 50
        assert got.headers["content-security-policy"].startswith("default-src 'none'")


def _decode_policy(fields: dict[str, str]) -> dict:
    return json.loads(base64.b64decode(fields["policy"]))


def test_s3_presigned_post_policy_pins_key_type_size_and_expiry():
    storage = S3Storage(
        S3Config(
            bucket="b",
            endpoint_url="http://s3.test",
            public_endpoint_url="https://files.example",
            access_key_id="AKID",
            secret_access_key="secret",
            path_style=True,
        )
    )
    before = datetime.now(UTC)
    upload = asyncio.run(
        storage.presign_upload("accounts/1/attachments/k", content_type="image/png", max_bytes=1234, expires_in=600)
    )
    assert upload.method == "POST" and upload.url == "https://files.example/b"
    assert upload.fields["key"] == "accounts/1/attachments/k" and upload.fields["Content-Type"] == "image/png"
    policy = _decode_policy(upload.fields)
    conditions = policy["conditions"]
    assert {"bucket": "b"} in conditions
    assert {"key": "accounts/1/attachments/k"} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 1234] in conditions
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert timedelta(seconds=590) <= expires - before <= timedelta(seconds=610)
    assert upload.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and upload.fields["x-amz-signature"]


def test_s3_download_url_is_short_lived_and_forces_the_disposition():
    storage = S3Storage(
        S3Config(
            bucket="b", endpoint_url="http://s3.test", access_key_id="AKID", secret_access_key="secret", path_style=True
        )
    )
    url = asyncio.run(
        storage.download_url(
            "accounts/1/attachments/k", file_name='evil".svg', content_type="image/svg+xml", expires_in=300
        )
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert urlsplit(url).path == "/b/accounts/1/attachments/k"
    assert query["X-Amz-Expires"] == "300"
    assert query["response-content-disposition"].startswith('attachment; filename="evil_.svg"')
    assert query["response-content-type"] == "image/svg+xml"
    assert "X-Amz-Signature" in query


def test_sniffing_and_image_dimensions():
    from domain.storage import sniff as s

    gif = b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 10
    jpeg = (
        b"\xff\xd8\xff\xe1"
        + struct.pack(">H", 18)
        + b"Exif\x00\x00"
        + b"\x00" * 10
        + b"\xff\xc0"
        + struct.pack(">HBHH", 17, 8, 300, 400)
        + b"\x00" * 20
    )
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    cases = [
        (png(7, 5), s.PNG, (7, 5)),
        (gif, s.GIF, (640, 480)),
        (jpeg, s.JPEG, (400, 300)),
        (webp, s.WEBP, (100, 50)),
        (b"%PDF-1.7\n", s.PDF, None),
        (b"PK\x03\x04rest", s.ZIP, None),
        (SVG, s.SVG, None),
        (b"<!doctype html><script>", s.HTML, None),
        ("a;b\nnaïve".encode("latin-1"), s.TEXT, None),
        (b"\x00\x01\x02\x03", None, None),
    ]
    for data, kind, size in cases:
        assert s.sniff(data) == kind, data[:16]
        assert s.dimensions(kind, data) == size, kind


async def test_put_stream_stores_what_it_is_given(backend, monkeypatch):
    """The streaming write other features use (report exports): small bodies and, on S3, multipart."""
    monkeypatch.setattr("domain.storage.s3.PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part
    storage = get_storage(backend.settings)
    for size in (10, 11 * 1024 * 1024 + 7):
        key = f"exports/test/{time.time_ns()}.csv"
        data = bytes(i % 251 for i in range(size))

        async def chunks(data: bytes, size: int):
            for start in range(0, size, 1024 * 1024):
                yield data[start : start + 1024 * 1024]

        assert await storage.put_stream(key, chunks(data, size), content_type="text/csv") == size
        stored = await storage.head(key)
        assert stored is not None and stored.byte_size == size and stored.content_type == "text/csv"
        assert await storage.read_prefix(key, 5) == data[:5]
        url = await storage.download_url(key, file_name="export.csv", content_type="text/csv", expires_in=60)
        async with httpx.AsyncClient(timeout=30) as http:
            got = await http.get(url)
        assert got.status_code == 200 and got.content == data
        await storage.delete(key)
        await storage.delete(key)  # idempotent
        assert await storage.head(key) is None
