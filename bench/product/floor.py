"""The raw floor: what the benchmark's requests cost without Parley — Starlette and asyncpg, one
hand-written statement (or one transaction) per request that builds the answer's JSON inside
PostgreSQL, no authentication, no limits, no GraphQL. Each scenario of `bench.product` is measured
against it on the same data in the same run.

    python -m bench.product.floor --dsn postgresql://postgres@127.0.0.1:5432/parley_bench --port 18500

`POST /<scenario>` takes the variables as a JSON object; `X-Bench-User` names the agent whose inbox
memberships bound what is visible. `WS /ws` speaks just enough graphql-transport-ws to fan the
messages written by `POST /message` out to subscribed sockets through Redis. `GET /stats` tells how
many statements it sent (counted at the asyncpg call) and how many Redis round trips it made.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

GID = "rtrim(translate(encode(convert_to('{t}:' || {c}, 'UTF8'), 'base64'), '+/', '-_'), '=')"
VISIBLE = "inbox_id IN (SELECT inbox_id FROM inbox_members WHERE user_id = $2)"

CONVERSATION_ITEM = f"""json_build_object(
  'id', {GID.format(t="Conversation", c="c.id")}, 'displayId', c.display_id, 'status', upper(c.status),
  'lastActivityAt', c.last_activity_at,
  'contact', json_build_object('name', ct.name, 'email', ct.email),
  'assignee', CASE WHEN u.id IS NULL THEN NULL ELSE json_build_object('name', u.name) END,
  'labels', coalesce(lb.labels, '[]'::json), 'lastMessage', lm.msg)"""

CONVERSATION_JOINS = """
JOIN contacts ct ON ct.id = c.contact_id
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN LATERAL (
  SELECT json_agg(json_build_object('title', l.title) ORDER BY l.title) AS labels
    FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = c.id) lb ON true
LEFT JOIN LATERAL (
  SELECT json_build_object('content', m.content, 'createdAt', m.created_at) AS msg
    FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1) lm ON true"""


def _list(where: str) -> str:
    return f"""
SELECT json_build_object('data', json_build_object('conversations', json_build_object('nodes', coalesce(json_agg(
         {CONVERSATION_ITEM} ORDER BY c.last_activity_at DESC, c.id DESC), '[]'::json))))::text
FROM (SELECT id, display_id, status, last_activity_at, contact_id, assignee_id FROM conversations
       WHERE account_id = $1 AND {VISIBLE} AND {where}
       ORDER BY last_activity_at DESC, id DESC LIMIT $3) c {CONVERSATION_JOINS}"""


DASHBOARD_SQL = _list("status = $4")
# The dashboard with conditions: status, a label (by title) and a custom attribute's value.
FILTERED_SQL = _list(
    "status = $4 AND custom_attributes ->> 'plan' = $5 AND EXISTS (SELECT 1 FROM conversation_labels cl"
    " JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = conversations.id AND l.account_id = $1"
    " AND l.title = $6)"
)
# The conversations filter's search: a UNION of index-driven id sets (contacts by trigram, the
# conversations of the newest 200 visible matching messages), then the usual list order.
SEARCH_SQL = _list(
    "id IN (SELECT c2.id FROM conversations c2 JOIN contacts ct2 ON ct2.id = c2.contact_id"
    " WHERE c2.account_id = $1 AND ct2.account_id = $1 AND (coalesce(ct2.name, '') || ' ' || coalesce(ct2.email, '')"
    " || ' ' || coalesce(ct2.phone_number, '') || ' ' || coalesce(ct2.identifier, '')) ILIKE $4"
    " UNION SELECT w.conversation_id FROM (SELECT m.conversation_id FROM messages m"
    " JOIN conversations c3 ON c3.id = m.conversation_id"
    " WHERE m.account_id = $1 AND m.deleted_at IS NULL AND c3." + VISIBLE + " AND"
    " (m.content_tsv @@ websearch_to_tsquery('english'::regconfig, $5) OR ($5 ~ '^\\w+$' AND m.content ILIKE $4))"
    " ORDER BY m.created_at DESC, m.id DESC LIMIT 200) w)"
)

# The search field's three sections in one statement: messages ranked by ts_rank_cd among the newest
# 200 full-text matches (snippets for the page only), conversations and contacts by contact prefix.
GLOBAL_SEARCH_SQL = f"""
WITH hits AS (
  SELECT m.id, ts_rank_cd(m.content_tsv, q) AS rank, q
    FROM (SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
           WHERE m.account_id = $1 AND c.{VISIBLE} AND m.deleted_at IS NULL AND char_length($3) >= 3
             AND (m.content_tsv @@ websearch_to_tsquery('english'::regconfig, $3)
                  OR ($3 ~ '^\\w+$' AND m.content ILIKE $5))
           ORDER BY m.created_at DESC, m.id DESC LIMIT 200) w
    JOIN messages m ON m.id = w.id, websearch_to_tsquery('english'::regconfig, $3) q
   ORDER BY rank DESC, m.id DESC LIMIT $4),
found AS (
  SELECT id FROM contacts WHERE account_id = $1 AND (lower(name) LIKE $6 OR lower(email) LIKE $6)
   ORDER BY id DESC LIMIT 100)
SELECT json_build_object('data', json_build_object('search', json_build_object(
  'messages', coalesce((SELECT json_agg(json_build_object(
      'snippet', ts_headline('english'::regconfig, m.content, h.q,
                             'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8, MaxFragments=2'),
      'message', json_build_object('id', {GID.format(t="Message", c="m.id")}),
      'conversation', json_build_object('id', {GID.format(t="Conversation", c="c.id")}, 'displayId', c.display_id))
      ORDER BY h.rank DESC, m.id DESC)
    FROM hits h JOIN messages m ON m.id = h.id JOIN conversations c ON c.id = m.conversation_id), '[]'::json),
  'conversations', coalesce((SELECT json_agg(json_build_object(
      'id', {GID.format(t="Conversation", c="x.id")}, 'displayId', x.display_id)) FROM (
      SELECT c.id, c.display_id FROM conversations c
       WHERE c.account_id = $1 AND c.{VISIBLE} AND c.contact_id IN (SELECT id FROM found)
       ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $4) x), '[]'::json),
  'contacts', coalesce((SELECT json_agg(json_build_object(
      'id', {GID.format(t="Contact", c="ct.id")}, 'name', ct.name, 'email', ct.email) ORDER BY ct.id DESC)
    FROM (SELECT * FROM contacts WHERE id IN (SELECT id FROM found) ORDER BY id DESC LIMIT $4) ct), '[]'::json)
)))::text"""

CONVERSATION_SQL = f"""
SELECT json_build_object('data', json_build_object('conversation', {CONVERSATION_ITEM.replace("'lastMessage', lm.msg", "'messages', json_build_object('nodes', ms.nodes)")}))::text
FROM (SELECT id, display_id, status, last_activity_at, contact_id, assignee_id FROM conversations
       WHERE account_id = $1 AND {VISIBLE} AND id = $3) c
JOIN contacts ct ON ct.id = c.contact_id
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN LATERAL (
  SELECT json_agg(json_build_object('title', l.title) ORDER BY l.title) AS labels
    FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = c.id) lb ON true
LEFT JOIN LATERAL (
  SELECT coalesce(json_agg(json_build_object(
           'id', {GID.format(t="Message", c="m.id")}, 'content', m.content, 'messageType', upper(m.message_type),
           'private', m.private, 'createdAt', m.created_at,
           'senderUser', CASE WHEN su.id IS NULL THEN NULL ELSE json_build_object('name', su.name) END,
           'senderContact', CASE WHEN sc.id IS NULL THEN NULL ELSE json_build_object('name', sc.name) END)
         ORDER BY m.id DESC), '[]'::json) AS nodes
    FROM (SELECT * FROM messages WHERE conversation_id = c.id ORDER BY id DESC LIMIT $4) m
    LEFT JOIN users su ON m.sender_type = 'user' AND su.id = m.sender_id
    LEFT JOIN contacts sc ON m.sender_type = 'contact' AND sc.id = m.sender_id) ms ON true"""

# The write path of messageCreate: the message, the conversation's activity, the next event position,
# the event and one outbox job per consumer of message.created, in one transaction.
MESSAGE_INSERT = """
WITH conv AS (
  UPDATE conversations SET last_activity_at = now(), updated_at = now()
   WHERE id = $2 AND account_id = $1 AND inbox_id IN (SELECT inbox_id FROM inbox_members WHERE user_id = $3)
  RETURNING id, inbox_id)
INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, sender_id,
                      content_attributes, created_at)
SELECT $1, conv.id, conv.inbox_id, 'outgoing', $4, false, 'user', $3, '{}'::jsonb, now() FROM conv
RETURNING id, conversation_id, inbox_id, created_at"""
EVENT_INSERT = """
WITH seq AS (UPDATE accounts SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq),
ev AS (
  INSERT INTO events (account_id, position, type, conversation_id, inbox_id, message_id, private, actor_user_id, payload,
                      created_at)
  SELECT $1, seq.event_seq, 'message.created', $2, $3, $4, false, $5, '{}'::jsonb, now() FROM seq
  RETURNING id, position)
INSERT INTO outbox_jobs (actor_name, kwargs, created_at, sends, dead)
SELECT a, jsonb_build_object('event_ids', jsonb_build_array(ev.id)), now(), 0, false
  FROM ev, unnest(ARRAY['webhooks.fan_out', 'notifications.fan_out', 'messages.email_reply', 'reports.record']) a
RETURNING (SELECT position FROM ev)"""

REPORT_SQL = """
WITH conv AS (
  SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS bucket, count(*) AS opened
    FROM conversations WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1),
msg AS (
  SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS bucket,
         count(*) FILTER (WHERE message_type = 'incoming') AS incoming,
         count(*) FILTER (WHERE message_type = 'outgoing' AND NOT private) AS outgoing
    FROM messages WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1),
frt AS (
  SELECT date_trunc('month', first_reply_created_at AT TIME ZONE 'UTC')::date AS bucket, count(*) AS n,
         avg(EXTRACT(EPOCH FROM first_reply_created_at - created_at)) AS average,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM first_reply_created_at - created_at)) AS median
    FROM conversations WHERE account_id = $1 AND first_reply_created_at >= $2 AND first_reply_created_at < $3 GROUP BY 1)
SELECT json_build_object('data', json_build_object('report', json_build_object('series',
         coalesce(json_agg(row_to_json(t) ORDER BY bucket), '[]'::json))))::text
  FROM (SELECT * FROM conv FULL JOIN msg USING (bucket) FULL JOIN frt USING (bucket)) t"""

STATE: dict = {"statements": 0, "begin": 0, "commit": 0, "redis_round_trips": 0, "sockets": set()}


def _count(n: int = 1) -> None:
    STATE["statements"] += n


async def _no_reset(_con) -> None:
    """No per-release reset: this app never changes session state."""


async def _init(con) -> None:
    await con.execute("SET TIME ZONE 'UTC'")


def _vars(body: bytes) -> dict:
    return orjson.loads(body) if body else {}


def _user(request: Request) -> int:
    return int(request.headers.get("x-bench-user", "3"))


async def dashboard(request: Request) -> Response:
    v = _vars(await request.body())
    _count()
    payload = await STATE["planned_once"].fetchval(
        DASHBOARD_SQL, 1, _user(request), int(v.get("first", 25)), str(v.get("status", "open")).lower()
    )
    return Response(payload, media_type="application/json")


async def dashboard_filtered(request: Request) -> Response:
    v = _vars(await request.body())
    _count()
    payload = await STATE["pool"].fetchval(
        FILTERED_SQL,
        1,
        _user(request),
        int(v.get("first", 25)),
        str(v.get("status", "open")),
        str(v.get("plan", "")),
        str(v.get("label", "")),
    )
    return Response(payload, media_type="application/json")


async def search(request: Request) -> Response:
    v = _vars(await request.body())
    _count()
    term = str(v.get("search", "")).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    payload = await STATE["pool"].fetchval(
        SEARCH_SQL, 1, _user(request), int(v.get("first", 25)), f"%{term}%", str(v.get("search", ""))
    )
    return Response(payload, media_type="application/json")


async def global_search(request: Request) -> Response:
    v = _vars(await request.body())
    _count()
    q = str(v.get("query", "")).strip()
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    payload = await STATE["pool"].fetchval(
        GLOBAL_SEARCH_SQL, 1, _user(request), q, int(v.get("first", 10)), f"%{escaped}%", f"{escaped.lower()}%"
    )
    return Response(payload, media_type="application/json")


async def conversation(request: Request) -> Response:
    v = _vars(await request.body())
    _count()
    payload = await STATE["planned_once"].fetchval(
        CONVERSATION_SQL, 1, _user(request), int(v["pk"]), int(v.get("first", 50))
    )
    return Response(payload, media_type="application/json")


async def report(request: Request) -> Response:
    from datetime import UTC, date, datetime, time, timedelta

    v = _vars(await request.body())
    lo = datetime.combine(date.fromisoformat(v["since"]), time(), UTC)
    hi = datetime.combine(date.fromisoformat(v["until"]) + timedelta(days=1), time(), UTC)
    _count()
    payload = await STATE["pool"].fetchval(REPORT_SQL, 1, lo, hi)
    return Response(payload, media_type="application/json")


async def message(request: Request) -> Response:
    v = _vars(await request.body())
    user = _user(request)
    async with STATE["pool"].acquire() as con:
        async with con.transaction():
            row = await con.fetchrow(MESSAGE_INSERT, 1, int(v["pk"]), user, str(v.get("content", "")))
            position = await con.fetchval(EVENT_INSERT, 1, row["conversation_id"], row["inbox_id"], row["id"], user)
        _count(2)
        STATE["begin"] += 1
        STATE["commit"] += 1
    body = orjson.dumps(
        {
            "data": {
                "messageCreate": {
                    "message": {
                        "id": f"Message:{row['id']}",
                        "content": v.get("content", ""),
                        "createdAt": row["created_at"].isoformat(),
                    },
                    "errors": [],
                }
            }
        }
    )
    if STATE["redis"] is not None:
        STATE["redis_round_trips"] += 1
        await STATE["redis"].publish(
            "floor:account:1",
            orjson.dumps({"position": position, "message_id": row["id"], "content": v.get("content", "")}),
        )
    return Response(body, media_type="application/json")


async def stats(_request: Request) -> Response:
    return Response(
        orjson.dumps({k: STATE[k] for k in ("statements", "begin", "commit", "redis_round_trips")}),
        media_type="application/json",
    )


async def ws(socket: WebSocket) -> None:
    await socket.accept(subprotocol="graphql-transport-ws")
    subscription = None
    try:
        while True:
            msg = orjson.loads(await socket.receive_text())
            if msg.get("type") == "connection_init":
                await socket.send_text('{"type":"connection_ack"}')
            elif msg.get("type") == "subscribe":
                subscription = msg["id"]
                STATE["sockets"].add((socket, subscription))
            elif msg.get("type") == "ping":
                await socket.send_text('{"type":"pong"}')
    except WebSocketDisconnect:
        pass
    finally:
        STATE["sockets"].discard((socket, subscription))


async def relay() -> None:
    """One Redis subscription; each message goes to every subscribed socket as a `next`."""
    pubsub = STATE["redis"].pubsub()
    await pubsub.subscribe("floor:account:1")
    async for item in pubsub.listen():
        if item.get("type") != "message":
            continue
        event = orjson.loads(item["data"])
        data = {
            "accountEvents": {
                "type": "message.created",
                "cursor": str(event["position"]),
                "message": {"id": f"Message:{event['message_id']}", "content": event["content"]},
            }
        }
        for socket, sid in list(STATE["sockets"]):
            with contextlib.suppress(Exception):
                await socket.send_text(orjson.dumps({"id": sid, "type": "next", "payload": {"data": data}}).decode())


@contextlib.asynccontextmanager
async def lifespan(_app):
    size = int(os.environ.get("BENCH_FLOOR_POOL", "20"))
    STATE["pool"] = await asyncpg.create_pool(
        os.environ["BENCH_FLOOR_DSN"], min_size=size, max_size=size, reset=_no_reset, init=_init
    )
    # The statements Parley plans once per connection (its lane's plain lists and one conversation,
    # parley/fast_lane.py GENERIC_FILTERS) are planned once here too, so that the floor stays the
    # best the same SQL can do: PostgreSQL's default plans these afresh at every execution, which
    # was half of the database's time per dashboard request. BENCH_FLOOR_PLAN_EACH_TIME=1 measures
    # the floor with the default.
    STATE["planned_once"] = (
        STATE["pool"]
        if os.environ.get("BENCH_FLOOR_PLAN_EACH_TIME")
        else await asyncpg.create_pool(
            os.environ["BENCH_FLOOR_DSN"],
            min_size=size,
            max_size=size,
            reset=_no_reset,
            init=_init,
            server_settings={"plan_cache_mode": "force_generic_plan", "application_name": "bench-floor"},
        )
    )
    STATE["redis"] = None
    task = None
    if os.environ.get("BENCH_FLOOR_REDIS"):
        import redis.asyncio as aioredis

        STATE["redis"] = aioredis.from_url(os.environ["BENCH_FLOOR_REDIS"])
        task = asyncio.create_task(relay())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
        if STATE["planned_once"] is not STATE["pool"]:
            await STATE["planned_once"].close()
        await STATE["pool"].close()


app = Starlette(
    routes=[
        Route("/dashboard", dashboard, methods=["POST"]),
        Route("/dashboard-filtered", dashboard_filtered, methods=["POST"]),
        Route("/search", search, methods=["POST"]),
        Route("/global-search", global_search, methods=["POST"]),
        Route("/conversation", conversation, methods=["POST"]),
        Route("/report", report, methods=["POST"]),
        Route("/message", message, methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        WebSocketRoute("/ws", ws),
    ],
    lifespan=lifespan,
)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.product.floor")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--redis", default="")
    parser.add_argument("--port", type=int, default=18500)
    args = parser.parse_args()
    os.environ["BENCH_FLOOR_DSN"] = args.dsn
    os.environ["BENCH_FLOOR_REDIS"] = args.redis
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
