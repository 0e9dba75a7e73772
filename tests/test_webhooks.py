"""Account webhooks end to end: administrators configure them over GraphQL, the in-process worker on
the Redis broker fans events out and delivers them to a real HTTP receiver on loopback, signed per
Standard Webhooks (verified with the `standardwebhooks` package), retried, logged and redelivered."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from db.models import Event, Webhook
from infra.settings import Settings
from schema.core.ids import decode_id
from tests.support.desk import ERR, build_desk
from tests.support.receiver import Receiver
from tests.test_query_counts import count_statements

WEBHOOK_FIELDS = "id url description events enabled disabledReason secretHint inbox { id name }"
CREATE = f"""mutation($input: WebhookCreateInput!) {{ webhookCreate(input: $input) {{
  webhook {{ {WEBHOOK_FIELDS} }} secret {ERR} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: WebhookUpdateInput!) {{ webhookUpdate(id: $id, input: $input) {{
  webhook {{ {WEBHOOK_FIELDS} }} {ERR} }} }}"""
ATTEMPTS = """query($id: ID!) { webhookAttempts(webhookId: $id, first: 100) { edges { node {
  id number manual succeeded statusCode durationMs responseBody error delivery { id event status webhookMessageId } } } } }"""
DELIVERIES = """query($id: ID!) { webhookDeliveries(webhookId: $id, first: 100) { edges { node {
  id event status attemptCount webhookMessageId payload attempts { number statusCode succeeded } } } } }"""
MESSAGE = f"""mutation($c: ID!, $t: String!, $p: Boolean!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p}}) {{ message {{ id }} {ERR} }} }}"""

# Fast retries and a loopback receiver for this module; restored afterwards.
HOOK_SETTINGS = {
    "webhooks_allow_private_targets": True,
    "webhooks_retry_base_seconds": 0.2,
    "webhooks_timeout_seconds": 3.0,
    "webhooks_max_attempts": 10,
    "webhooks_disable_after_failures": 5,
}


@pytest.fixture(scope="module")
def hook_settings(server) -> Iterator[None]:
    """The session server's settings object is the one its API and in-process worker read."""
    settings = server.settings
    saved = {name: getattr(settings, name) for name in HOOK_SETTINGS}
    for name, value in HOOK_SETTINGS.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


@pytest.fixture
def receiver(hook_settings) -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def wait_until(predicate, timeout: float = 20, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def create_webhook(desk, url: str, events: list[str], **extra) -> tuple[dict, str]:
    body = await desk.data(desk.admin, CREATE, {"input": {"url": url, "events": events, **extra}})
    payload = body["webhookCreate"]
    assert payload["errors"] == [], payload
    return payload["webhook"], payload["secret"]


async def attempts(desk, webhook_id: str) -> list[dict]:
    body = await desk.data(desk.admin, ATTEMPTS, {"id": webhook_id})
    return [e["node"] for e in body["webhookAttempts"]["edges"]][::-1]  # oldest first


# --- configuration ---------------------------------------------------------------------------------


async def test_administrators_manage_webhooks_and_see_the_secret_once(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    webhook, secret = await create_webhook(
        desk, receiver.url, ["MESSAGE_CREATED", "CONVERSATION_CREATED"], description="CRM sync", inboxId=desk.inbox_id
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    assert webhook["secretHint"] == f"whsec_…{secret[-4:]}"
    assert webhook["events"] == ["CONVERSATION_CREATED", "MESSAGE_CREATED"]
    assert webhook["inbox"]["id"] == desk.inbox_id and webhook["enabled"] is True
    listed = await desk.data(desk.admin, "{ webhooks { edges { node { id secretHint } } } }")
    assert listed["webhooks"]["edges"] == [{"node": {"id": webhook["id"], "secretHint": webhook["secretHint"]}}]
    assert secret not in str(listed)

    # Agents may not see or change webhooks.
    body = await desk.run(desk.agent, "{ webhooks { edges { node { id } } } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Update: an explicit null removes the inbox filter; omitted fields stay.
    body = await desk.data(
        desk.admin, UPDATE, {"id": webhook["id"], "input": {"inboxId": None, "events": ["CONTACT_UPDATED"]}}
    )
    updated = body["webhookUpdate"]
    assert updated["errors"] == [] and updated["webhook"]["inbox"] is None
    assert updated["webhook"]["events"] == ["CONTACT_UPDATED"] and updated["webhook"]["description"] == "CRM sync"
    body = await desk.data(desk.admin, UPDATE, {"id": webhook["id"], "input": {"enabled": False}})
    assert body["webhookUpdate"]["webhook"]["enabled"] is False
    assert body["webhookUpdate"]["webhook"]["disabledReason"] == "disabled by an administrator"

    # Bad input: typed errors, nothing changed.
    body = await desk.data(
        desk.admin, UPDATE, {"id": webhook["id"], "input": {"events": [], "url": "ftp://example.com/x"}}
    )
    errors = body["webhookUpdate"]["errors"]
    assert sorted((e["field"], e["code"]) for e in errors) == [("events", "REQUIRED"), ("url", "INVALID_URL")]
    again = await desk.data(desk.admin, "query($id: ID!) { webhook(id: $id) { url events } }", {"id": webhook["id"]})
    assert again["webhook"] == {"url": receiver.url, "events": ["CONTACT_UPDATED"]}

    # Rotation shows a new secret once.
    body = await desk.data(
        desk.admin,
        f"mutation($id: ID!) {{ webhookSecretRotate(id: $id) {{ secret webhook {{ secretHint }} {ERR} }} }}",
        {"id": webhook["id"]},
    )
    rotated = body["webhookSecretRotate"]
    assert rotated["errors"] == [] and rotated["secret"].startswith("whsec_") and rotated["secret"] != secret

    body = await desk.data(
        desk.admin,
        f"mutation($id: ID!) {{ webhookDelete(id: $id) {{ webhook {{ id }} {ERR} }} }}",
        {"id": webhook["id"]},
    )
    assert body["webhookDelete"]["errors"] == []
    assert (await desk.data(desk.admin, "{ webhooks { edges { node { id } } } }"))["webhooks"]["edges"] == []
    audit = await desk.data(desk.admin, "{ auditLogs(first: 50) { edges { node { action } } } }")
    actions = [e["node"]["action"] for e in audit["auditLogs"]["edges"]]
    for action in ("webhook.create", "webhook.update", "webhook.secret_rotate", "webhook.delete"):
        assert action in actions, actions


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hooks",
        "http://[::1]:8080/hooks",
        "http://localhost:8080/hooks",
        "http://2130706433/hooks",  # 127.0.0.1 as a decimal literal
        "http://[::ffff:127.0.0.1]/hooks",
    ],
)
async def test_private_targets_are_refused_with_the_default_setting(gql, smtp, server, url):
    default = Settings.model_fields["webhooks_allow_private_targets"].default
    assert default is False
    desk = await build_desk(gql, smtp)
    saved, server.settings.webhooks_allow_private_targets = server.settings.webhooks_allow_private_targets, default
    try:
        body = await desk.data(desk.admin, CREATE, {"input": {"url": url, "events": ["MESSAGE_CREATED"]}})
    finally:
        server.settings.webhooks_allow_private_targets = saved
    payload = body["webhookCreate"]
    assert payload["webhook"] is None and payload["secret"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("url", "FORBIDDEN_TARGET")]
    assert payload["errors"][0]["message"] == "The URL reaches a private, loopback, link-local or reserved address."
    assert (await desk.data(desk.admin, "{ webhooks { edges { node { id } } } }"))["webhooks"]["edges"] == []


async def test_a_target_allowed_at_save_time_is_checked_again_on_connect(gql, smtp, receiver, server, db_engine):
    """The operator turns the allowance off later: the stored loopback URL is refused when connecting."""
    desk = await build_desk(gql, smtp)
    webhook, _ = await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    server.settings.webhooks_allow_private_targets = False
    try:
        await desk.new_conversation()

        async def refused():
            tries = await attempts(desk, webhook["id"])
            return tries if tries else None

        tries = await wait_until(refused)
        assert tries[0]["error"] == "refused: FORBIDDEN_TARGET" and tries[0]["statusCode"] is None
        assert tries[0]["delivery"]["status"] == "FAILED"
        assert receiver.requests == []
    finally:
        server.settings.webhooks_allow_private_targets = True


# --- delivery --------------------------------------------------------------------------------------


async def test_events_are_delivered_signed_with_the_api_objects(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    webhook, secret = await create_webhook(
        desk,
        receiver.url,
        ["CONVERSATION_CREATED", "MESSAGE_CREATED", "CONVERSATION_STATUS_CHANGED", "CONVERSATION_UPDATED"],
    )
    conversation = await desk.new_conversation("Where is my parcel?")
    await desk.data(desk.agent, MESSAGE, {"c": conversation["id"], "t": "Internal: check the courier", "p": True})
    # Bodies show the objects as they are when the event fans out (README): resolve only after the
    # creation went out, so its body shows the conversation still open.
    await wait_until(lambda: receiver.events("conversation_created"))
    body = await desk.data(
        desk.agent,
        f"""mutation($id: ID!) {{ conversationStatusUpdate(id: $id, input: {{status: RESOLVED}})
      {{ conversation {{ id }} {ERR} }} }}""",
        {"id": conversation["id"]},
    )
    assert body["conversationStatusUpdate"]["errors"] == []

    await wait_until(
        lambda: len(receiver.events("message_created")) >= 2 and receiver.events("conversation_status_changed")
    )
    verifier = StandardWebhook(secret)
    for request in receiver.requests:
        verifier.verify(request.body, request.headers)  # raises when the signature is wrong
        assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        StandardWebhook("whsec_" + "A" * 44).verify(receiver.requests[0].body, receiver.requests[0].headers)

    created = receiver.events("conversation_created")[0].json()
    assert created["conversation"]["id"] == conversation["id"]
    assert created["conversation"]["contact"]["id"] == desk.contact_id
    assert created["conversation"]["status"] == "OPEN" and created["conversation"]["labels"] == []
    assert created["account"]["id"] == desk.admin.account_id

    # Deliveries may arrive out of order (README): each message's body is told by its own fields.
    messages = [r.json() for r in receiver.events("message_created")]
    assert len(messages) == 2, messages
    incoming, note = sorted(messages, key=lambda m: m["message"]["private"])
    assert incoming["message"]["content"] == "Where is my parcel?" and incoming["message"]["messageType"] == "INCOMING"
    assert incoming["message"]["sender"]["id"] == desk.contact_id and incoming["message"]["sender"]["type"] == "CONTACT"
    assert incoming["message"]["private"] is False and incoming["message"]["attachments"] == []
    assert incoming["conversation"]["id"] == conversation["id"]
    # Chatwoot sends private notes to webhooks too, flagged private.
    assert note["message"]["private"] is True and note["message"]["sender"]["id"] == desk.user_ids["agent"]

    status = receiver.events("conversation_status_changed")[0].json()
    assert status["changedAttributes"] == [{"status": {"previousValue": "OPEN", "currentValue": "RESOLVED"}}]
    # Each request has its own webhook-id; every one was a first try.
    assert len({r.webhook_id for r in receiver.requests}) == len(receiver.requests)
    assert all(a["number"] == 1 and a["succeeded"] for a in await attempts(desk, webhook["id"]))
    # Deliveries to one receiver reuse its connections instead of opening one each.
    assert len({r.peer for r in receiver.requests}) < len(receiver.requests), [r.peer for r in receiver.requests]


async def test_a_failing_receiver_gets_the_event_after_retries_and_the_log_shows_each_try(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    webhook, secret = await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    receiver.script(500, 503, 429)  # three failures, then 200
    conversation = await desk.new_conversation()

    async def delivered():
        tries = await attempts(desk, webhook["id"])
        return tries if tries and tries[-1]["succeeded"] else None

    tries = await wait_until(delivered, timeout=30)
    assert [(t["number"], t["statusCode"], t["succeeded"]) for t in tries] == [
        (1, 500, False),
        (2, 503, False),
        (3, 429, False),
        (4, 200, True),
    ]
    assert [t["error"] for t in tries] == ["HTTP 500", "HTTP 503", "HTTP 429", None]
    assert tries[0]["responseBody"] == "status 500" and all(t["durationMs"] >= 0 for t in tries)
    assert {t["delivery"]["id"] for t in tries} == {tries[0]["delivery"]["id"]}
    assert tries[-1]["delivery"]["status"] == "DELIVERED"

    requests = receiver.events("conversation_created")
    assert len(requests) == 4
    # The same webhook-id and the same bytes on every try; each try signed afresh.
    assert {r.webhook_id for r in requests} == {tries[0]["delivery"]["webhookMessageId"]}
    assert len({r.body for r in requests}) == 1
    for r in requests:
        StandardWebhook(secret).verify(r.body, r.headers)
    assert requests[0].json()["conversation"]["id"] == conversation["id"]
    # Backoff grows: 0.2 s, 0.8 s, 3.2 s (with the module's base of 0.2 s).
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.7 and gaps[2] >= 3.0, gaps


async def test_a_404_is_not_retried(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    webhook, _ = await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    receiver.script(404)
    await desk.new_conversation()

    async def failed():
        body = await desk.data(desk.admin, DELIVERIES, {"id": webhook["id"]})
        nodes = [e["node"] for e in body["webhookDeliveries"]["edges"]]
        return nodes if nodes and nodes[0]["status"] == "FAILED" else None

    deliveries = await wait_until(failed)
    assert deliveries[0]["attempts"] == [{"number": 1, "statusCode": 404, "succeeded": False}]
    assert deliveries[0]["attemptCount"] == 1 and deliveries[0]["event"] == "conversation_created"
    await asyncio.sleep(1.5)  # longer than the first two retry delays
    assert len(receiver.requests) == 1


async def test_redeliver_and_test_ping(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    webhook, secret = await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    receiver.script(404)
    await desk.new_conversation()
    first = (await wait_until(lambda: attempts(desk, webhook["id"])))[0]
    assert first["statusCode"] == 404

    body = await desk.data(
        desk.admin,
        f"mutation($id: ID!) {{ webhookRedeliver(id: $id) {{ delivery {{ id status }} {ERR} }} }}",
        {"id": first["id"]},
    )
    assert body["webhookRedeliver"]["errors"] == []
    assert body["webhookRedeliver"]["delivery"]["id"] == first["delivery"]["id"]

    async def redelivered():
        tries = await attempts(desk, webhook["id"])
        return tries if len(tries) == 2 else None

    tries = await redelivered() or await wait_until(redelivered)
    assert (tries[1]["number"], tries[1]["manual"], tries[1]["statusCode"], tries[1]["succeeded"]) == (
        2,
        True,
        200,
        True,
    )
    assert tries[1]["delivery"]["status"] == "DELIVERED"
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id
    assert receiver.requests[0].body == receiver.requests[1].body

    body = await desk.data(
        desk.admin,
        f"mutation($id: ID!) {{ webhookTest(id: $id) {{ delivery {{ id event status }} {ERR} }} }}",
        {"id": webhook["id"]},
    )
    assert body["webhookTest"]["errors"] == [] and body["webhookTest"]["delivery"]["event"] == "webhook_test"
    ping = (await wait_until(lambda: receiver.events("webhook_test")))[0]
    assert StandardWebhook(secret).verify(ping.body, ping.headers)["webhook"]["id"] == webhook["id"]

    # Another account's attempt is simply not found.
    other = await build_desk(gql, smtp)
    body = await other.run(
        other.admin, "mutation($id: ID!) { webhookRedeliver(id: $id) { errors { code } } }", {"id": first["id"]}
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_only_subscribed_events_of_the_filtered_inbox_are_sent(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    other_inbox = await desk.data(
        desk.admin, f'mutation {{ inboxCreate(input: {{name: "Other", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}'
    )
    await create_webhook(desk, receiver.url, ["MESSAGE_CREATED"], inboxId=other_inbox["inboxCreate"]["inbox"]["id"])
    everything, _ = await create_webhook(desk, receiver.url + "/all", ["CONTACT_CREATED"])
    await desk.new_conversation()  # in desk.inbox_id: the filtered webhook gets nothing
    await desk.data(desk.admin, f'mutation {{ contactCreate(input: {{name: "Dora"}}) {{ contact {{ id }} {ERR} }} }}')
    contact = (await wait_until(lambda: receiver.events("contact_created")))[0].json()
    assert contact["contact"]["name"] == "Dora" and receiver.requests[-1].path == "/hooks/all"
    await asyncio.sleep(1)
    assert [r.json()["event"] for r in receiver.requests] == ["contact_created"]


async def test_a_retried_fan_out_makes_no_second_delivery(gql, smtp, receiver, server, db_engine):
    desk = await build_desk(gql, smtp)
    await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    await desk.new_conversation()
    await wait_until(lambda: receiver.events("conversation_created"))
    async with db_engine.connect() as conn:
        event_ids = list((await conn.execute(select(Event.id).where(Event.type == "conversation.created"))).scalars())
    from workers.actors.webhooks import webhooks_fan_out

    broker = server.app.state.broker
    await asyncio.to_thread(broker.enqueue, webhooks_fan_out.message_with_options(kwargs={"event_ids": event_ids}))
    await asyncio.to_thread(broker.enqueue, webhooks_fan_out.message_with_options(kwargs={"event_ids": event_ids}))
    await asyncio.sleep(2)
    assert len(receiver.events("conversation_created")) == 1
    async with db_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM webhook_deliveries"))).scalar() == 1


async def test_persistent_failure_disables_the_webhook_with_an_audit_entry(gql, smtp, receiver, server):
    desk = await build_desk(gql, smtp)
    webhook, _ = await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    settings = server.settings
    settings.webhooks_max_attempts, settings.webhooks_disable_after_failures = 2, 2
    try:
        receiver.script(*[500] * 10)
        await desk.new_conversation()
        await desk.new_conversation()

        async def disabled():
            body = await desk.data(
                desk.admin, "query($id: ID!) { webhook(id: $id) { enabled disabledReason } }", {"id": webhook["id"]}
            )
            return body["webhook"] if not body["webhook"]["enabled"] else None

        state = await wait_until(disabled, timeout=30)
        assert state["disabledReason"] == "2 deliveries in a row failed"
    finally:
        settings.webhooks_max_attempts, settings.webhooks_disable_after_failures = 10, 5
    assert len(receiver.requests) == 4  # two deliveries, two tries each
    audit = await desk.data(desk.admin, "{ auditLogs(first: 50) { edges { node { action changes } } } }")
    entries = [e["node"] for e in audit["auditLogs"]["edges"] if e["node"]["action"] == "webhook.auto_disable"]
    assert len(entries) == 1 and entries[0]["changes"]["enabled"] == [True, False]
    # A disabled webhook receives nothing more.
    await desk.new_conversation()
    await asyncio.sleep(1)
    assert len(receiver.requests) == 4


async def test_a_job_that_fails_for_good_is_a_dead_job_administrators_can_retry(gql, smtp, receiver, db_engine):
    desk = await build_desk(gql, smtp)
    webhook, secret = await create_webhook(desk, receiver.url, ["CONVERSATION_CREATED"])
    pk = decode_id(webhook["id"], "Webhook")
    async with db_engine.begin() as conn:  # the key that encrypted the secret is gone
        good = (await conn.execute(select(Webhook.secret_encrypted).where(Webhook.id == pk))).scalar()
        await conn.execute(update(Webhook).where(Webhook.id == pk).values(secret_encrypted="v1:000000000000:AAAA"))
    await desk.new_conversation()

    query = "{ deadJobs { edges { node { id actorName queueName arguments errorClass errorMessage attempts retryable retriedAt } } } }"

    async def dead():
        edges = (await desk.data(desk.admin, query))["deadJobs"]["edges"]
        return edges[0]["node"] if edges else None

    job = await wait_until(dead)
    assert (job["actorName"], job["queueName"], job["errorClass"], job["attempts"]) == (
        "webhooks.deliver",
        "webhooks",
        "DecryptionError",
        1,
    )
    assert job["errorMessage"] == "cannot decrypt this secret with the configured keys"
    assert set(job["arguments"]) == {"delivery_id"} and job["retryable"] is True
    assert receiver.requests == []
    body = await desk.run(desk.agent, query)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other = await build_desk(gql, smtp)
    assert (await other.data(other.admin, query))["deadJobs"]["edges"] == []
    body = await other.run(
        other.admin, "mutation($id: ID!) { deadJobRetry(id: $id) { errors { code } } }", {"id": job["id"]}
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    async with db_engine.begin() as conn:  # the operator restores the key
        await conn.execute(update(Webhook).where(Webhook.id == pk).values(secret_encrypted=good))
    retry = f"mutation($id: ID!) {{ deadJobRetry(id: $id) {{ deadJob {{ retryable retriedAt }} {ERR} }} }}"
    body = await desk.data(desk.admin, retry, {"id": job["id"]})
    assert body["deadJobRetry"]["errors"] == [] and body["deadJobRetry"]["deadJob"]["retryable"] is False
    request = (await wait_until(lambda: receiver.events("conversation_created")))[0]
    StandardWebhook(secret).verify(request.body, request.headers)
    body = await desk.data(desk.admin, retry, {"id": job["id"]})
    assert [(e["code"], e["message"]) for e in body["deadJobRetry"]["errors"]] == [
        ("ALREADY_RETRIED", "This job was retried already.")
    ]


# --- statement counts --------------------------------------------------------------------------------


async def _seed_deliveries(db_engine, account_pk: int, webhook_pk: int, n: int) -> None:
    async with db_engine.begin() as c:
        for i in range(n):
            delivery = (
                await c.execute(
                    text(
                        "INSERT INTO webhook_deliveries (account_id, webhook_id, event_id, event_type, message_id, body, status, "
                        "attempt_count, created_at) VALUES (:a, :w, :e, 'message_created', :m, '{}', 'delivered', 2, now()) RETURNING id"
                    ),
                    {"a": account_pk, "w": webhook_pk, "e": 10_000 + i, "m": f"msg_seed_{webhook_pk}_{i}"},
                )
            ).scalar()
            for number in (1, 2):
                await c.execute(
                    text(
                        "INSERT INTO webhook_attempts (account_id, webhook_id, delivery_id, number, manual, succeeded, status_code, "
                        "duration_ms, response_body, created_at) VALUES (:a, :w, :d, :n, false, :ok, :s, 5, '', now())"
                    ),
                    {
                        "a": account_pk,
                        "w": webhook_pk,
                        "d": delivery,
                        "n": number,
                        "ok": number == 2,
                        "s": 200 if number == 2 else 500,
                    },
                )
            await c.execute(
                text(
                    "INSERT INTO dead_jobs (account_id, actor_name, queue_name, message_id, kwargs, redacted, error_class, "
                    "error_message, attempts, created_at) VALUES (:a, 'email.send', 'email', :m, '{}', false, 'X', '', 9, now())"
                ),
                {"a": account_pk, "m": f"m{i}"},
            )


async def test_webhook_list_fields_make_a_constant_number_of_statements(gql, smtp, receiver, server, db_engine):
    desk = await build_desk(gql, smtp)
    created = [
        await create_webhook(desk, receiver.url + f"/{i}", ["CONTACT_UPDATED"], inboxId=desk.inbox_id) for i in range(3)
    ]
    account_pk = decode_id(desk.admin.account_id, "Account")
    webhook_id = created[0][0]["id"]
    await _seed_deliveries(db_engine, account_pk, decode_id(webhook_id, "Webhook"), 30)
    engine = server.app.state.services.engine
    documents = {
        "webhooks": (
            "query($first: Int) { webhooks(first: $first) { edges { node { " + WEBHOOK_FIELDS + " } } } }",
            {},
        ),
        "webhookDeliveries": (
            DELIVERIES.replace("first: 100", "first: $first").replace(
                "query($id: ID!)", "query($id: ID!, $first: Int)"
            ),
            {"id": webhook_id},
        ),
        "webhookAttempts": (
            ATTEMPTS.replace("first: 100", "first: $first").replace("query($id: ID!)", "query($id: ID!, $first: Int)"),
            {"id": webhook_id},
        ),
        "deadJobs": (
            "query($first: Int) { deadJobs(first: $first) { edges { node { id actorName arguments } } } }",
            {},
        ),
    }
    for name, (document, variables) in documents.items():
        counts = []
        for first in (1, 25):
            with count_statements(engine) as statements:
                body = await desk.data(desk.admin, document, {**variables, "first": first})
            assert len(body[name]["edges"]) == min(
                first, 3 if name == "webhooks" else 30 if name != "webhookAttempts" else 60
            )
            counts.append(len(statements))
        assert counts[0] == counts[1], (name, counts)
        assert counts[1] <= 8, (name, counts)


# --- secrets at rest ---------------------------------------------------------------------------------


async def test_the_signing_secret_is_stored_encrypted_with_its_key_id(gql, smtp, receiver, server, db_engine):
    from domain import crypto

    desk = await build_desk(gql, smtp)
    webhook, secret = await create_webhook(desk, receiver.url, ["CONTACT_CREATED"])
    async with db_engine.connect() as conn:
        stored, key_id = (
            await conn.execute(
                select(Webhook.secret_encrypted, Webhook.secret_key_id).where(
                    Webhook.id == decode_id(webhook["id"], "Webhook")
                )
            )
        ).one()
    raw = secret.removeprefix("whsec_")
    assert secret not in stored and raw not in stored
    assert stored.startswith(f"v1:{key_id}:") and key_id == crypto.key_id(crypto.keys(server.settings)[0])
    assert crypto.decrypt(stored, server.settings, context=b"webhook-secret") == secret
    with pytest.raises(crypto.DecryptionError):  # bound to its purpose
        crypto.decrypt(stored, server.settings, context=b"other")


def test_a_new_encryption_key_still_reads_what_the_previous_one_wrote():
    import base64
    import os

    from domain import crypto

    first, second = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    old = Settings(secrets_encryption_key=first)
    token = crypto.encrypt("whsec_x", old)
    rotated = Settings(secrets_encryption_key=second, secrets_previous_keys=[first])
    assert crypto.decrypt(token, rotated) == "whsec_x"
    assert crypto.key_id_of(crypto.encrypt("whsec_x", rotated)) != crypto.key_id_of(token)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, Settings(secrets_encryption_key=second))


async def test_typing_is_sent_to_webhooks_that_asked_for_it(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    _, secret = await create_webhook(desk, receiver.url, ["CONVERSATION_TYPING_ON", "CONVERSATION_TYPING_OFF"])
    conversation = await desk.new_conversation("typing hook")
    typing = f"""mutation($c: ID!, $on: Boolean!) {{ typingSet(input: {{conversationId: $c, on: $on, private: true}}) {{
      accepted {ERR} }} }}"""
    for on in (True, False):
        body = await desk.data(desk.agent, typing, {"c": conversation["id"], "on": on})
        assert body["typingSet"] == {"accepted": True, "errors": []}
    await wait_until(lambda: receiver.events("conversation_typing_on") and receiver.events("conversation_typing_off"))
    for request in receiver.requests:
        StandardWebhook(secret).verify(request.body, request.headers)
    on = receiver.events("conversation_typing_on")[0].json()
    assert on["conversation"]["id"] == conversation["id"]
    assert on["user"]["id"] == desk.user_ids["agent"] and on["isPrivate"] is True
    # Only these two: typing never reaches the event log, so no other webhook event came of it.
    assert sorted(r.json()["event"] for r in receiver.requests) == ["conversation_typing_off", "conversation_typing_on"]
