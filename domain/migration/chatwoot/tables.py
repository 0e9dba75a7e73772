"""How each Chatwoot table becomes Parley rows: the source query (one table, plus the channel or
blob rows it needs, keyset-paged on the table's id), the rows it refers to, the transform, and the
columns the reconciliation compares.

Chatwoot stores enums as integers (`db/schema.rb` + `app/models/**`); the maps below are its orders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table

from db.models import (
    Account,
    AccountMembership,
    Attachment,
    CannedResponse,
    Contact,
    ContactInbox,
    Conversation,
    ConversationLabel,
    CsatResponse,
    CustomAttributeDefinition,
    Inbox,
    InboxMember,
    Label,
    Message,
    ReportingEvent,
    Team,
    TeamMember,
    User,
    Webhook,
)
from domain.validation import matches

ACCOUNT_STATUS = {0: "active", 1: "suspended"}
AVAILABILITY = {0: "online", 1: "offline", 2: "busy"}
ROLE = {0: "agent", 1: "administrator"}
CONVERSATION_STATUS = {0: "open", 1: "resolved", 2: "pending", 3: "snoozed"}
PRIORITY = {0: "low", 1: "medium", 2: "high", 3: "urgent"}
MESSAGE_TYPE = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}
CONTACT_TYPE = {0: "visitor", 1: "lead", 2: "customer"}
FILE_TYPE = {0: "image", 1: "audio", 2: "video", 3: "file", 4: "location", 5: "file", 6: "file", 7: "file"}
REPLY_TIME = {0: "in_a_few_minutes", 1: "in_a_few_hours", 2: "in_a_day"}
ATTRIBUTE_MODEL = {0: "conversation", 1: "contact"}
DISPLAY_TYPE = {0: "text", 1: "number", 2: "currency", 3: "percent", 4: "link", 5: "date", 6: "list", 7: "checkbox"}
CHANNEL = {"Channel::WebWidget": "web_widget", "Channel::Api": "api", "Channel::Email": "email"}
LOCALES = {0: "en"}

WEBHOOK_DISABLED = "imported from Chatwoot: enable it once Parley takes this account's traffic"
PHONE_MAX = 20


def table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


class Skip(Exception):
    """The source row is left out, for this reason (recorded in import_skips and the report)."""


def ts(value: datetime | None) -> datetime | None:
    # Rails writes UTC into `timestamp without time zone`.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def js(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if value == "{}" and isinstance(default, dict):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return default
    return value if isinstance(value, type(default)) else default


def cut(value: str | None, length: int) -> str:
    return (value or "")[:length]


@dataclass
class Context:
    """What a transform may consult: the id map of the rows it refers to (loaded once per batch),
    per-batch facts a table's `prepare` gathered, and whether this is the reconciliation pass
    (which recomputes what was written and must not re-decide duplicates)."""

    refs: dict[str, dict[int, int]]
    extra: dict[str, Any] = field(default_factory=dict)
    reconciling: bool = False
    target_id: int | None = None
    encrypt: Callable[[str, bytes], str] = lambda text, context: text
    storage_dir: str | None = None

    def ref(self, table: str, source_id: int | None) -> int | None:
        return None if source_id is None else self.refs.get(table, {}).get(int(source_id))

    def need(self, table: str, source_id: int | None, what: str) -> int:
        found = self.ref(table, source_id)
        if found is None:
            raise Skip(f"{what} not imported")
        return found


Prepare = Callable[[Any, list[Any], "Context"], Awaitable[None]]


@dataclass
class Spec:
    name: str  # the source table (checkpoint and id map key)
    target: Table
    select: str  # the source query up to WHERE; the paged table is aliased `t`
    scope: str  # the account filter, with $2 as the Chatwoot account id
    transform: Callable[[Any, Context], dict[str, Any]]
    refs: dict[str, str] = field(default_factory=dict)  # source column -> spec whose id map it reads
    check: tuple[str, ...] = ()
    account_column: str | None = "account_id"  # the source column naming the row's Chatwoot account
    has_id: bool = True  # False: the target has a composite key (`key` columns)
    key: tuple[str, ...] = ("id",)
    prepare: Prepare | None = None
    # Checked columns holding Parley ids, with the table they point into: the reconciliation writes
    # them as source ids, so its checksums do not depend on the ids a run happened to allocate.
    ids: dict[str, str] = field(default_factory=dict)
    # Set: the table's batches are COPYed raw into a staging table and transformed on the target
    # by one statement (the `transform` above stays the reference: the reconciliation runs it).
    staged: Staged | None = None


@dataclass
class Staged:
    """A table transformed in SQL. `columns`: the source columns COPYed (binary) into the staging
    table, with their staging type; `sql` the statement of one batch after its `WITH` (the importer
    puts the CTE `stage` first: the staged rows not yet done) and must write the rows, their id map entries and
    their skips, and end with `SELECT new, skipped` plus the `{checks}` it is given. It sees the
    batch's rows as the CTE `new`, holding the target columns and `id` (see MESSAGE_SQL): the ids
    come in `:ids`, drawn from the target's sequence in batch order before the batch runs, so rows
    keep their source order across batches written at the same time."""

    table: str  # the source table, aliased `t` in the read
    columns: dict[str, str]
    sql: str
    # The id map's columns as columns of `new` (for the foreign-key checks of the id map).
    id_map_columns: dict[str, str] = field(default_factory=lambda: {"account_id": "account_id"})
    # A statement run after `sql` in the batch's transaction (it sees the CTE `stage` too).
    after: str | None = None


# --- transforms ------------------------------------------------------------------------------------


def account(r: Any, c: Context) -> dict[str, Any]:
    return {
        "name": cut(r["name"], 255) or f"Chatwoot account {r['id']}",
        "locale": LOCALES.get(r["locale"] or 0, "en"),
        "status": ACCOUNT_STATUS.get(r["status"] or 0, "active"),
        "settings": {"support_email": r["support_email"]} if r["support_email"] else {},
        "created_at": ts(r["created_at"]),
        "updated_at": ts(r["updated_at"]),
    }


def user(r: Any, c: Context) -> dict[str, Any]:
    email = (r["email"] or "").strip().lower()
    if not email:
        raise Skip("no email address (nobody could sign in as this user)")
    if len(email) > 320:
        raise Skip("email address longer than 320 characters")
    hashed = r["encrypted_password"] or None
    if hashed is not None and not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        hashed = None  # not bcrypt: the agent resets their password
    return {
        "name": cut(r["name"], 255),
        "display_name": (r["display_name"] or None) and cut(r["display_name"], 255),
        "email": email,
        "password_hash": hashed,
        "availability": AVAILABILITY.get(r["availability"] or 0, "online"),
        "email_verified": r["confirmed_at"] is not None,
        "created_at": ts(r["created_at"]),
        "updated_at": ts(r["updated_at"]),
    }


def membership(r: Any, c: Context) -> dict[str, Any]:
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "user_id": c.need("users", r["user_id"], "user (deleted or without email)"),
        "role": ROLE.get(r["role"] or 0, "agent"),
        "inviter_id": c.ref("users", r["inviter_id"]),
        "created_at": ts(r["created_at"]),
    }


def team(r: Any, c: Context) -> dict[str, Any]:
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "name": cut(r["name"], 100),
        "description": r["description"] or "",
        "allow_auto_assign": r["allow_auto_assign"] is not False,
        "created_at": ts(r["created_at"]),
    }


def team_member(r: Any, c: Context) -> dict[str, Any]:
    if r["account_id"] is None:
        raise Skip("team deleted")
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "team_id": c.need("teams", r["team_id"], "team"),
        "user_id": c.need("users", r["user_id"], "user (deleted or without email)"),
    }


DOMAIN_RE = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?")


def _domains(text: str | None) -> list[str]:
    found = [d.strip().lower() for d in re.split(r"[,\s]+", text or "") if d.strip()]
    return [d for d in found if matches(DOMAIN_RE, d, 261)][:50]


def inbox(r: Any, c: Context) -> dict[str, Any]:
    channel = CHANNEL.get(r["channel_type"] or "")
    if channel is None:
        raise Skip(f"channel type {r['channel_type']} has no Parley equivalent")
    config: dict[str, Any]
    website_token = api_identifier = None
    hmac_mandatory = False
    if channel == "web_widget":
        if r["website_token"] is None:
            raise Skip("web widget channel row missing")
        config = {
            "widget_color": r["widget_color"]
            if re.fullmatch(r"#[0-9a-fA-F]{6}", r["widget_color"] or "")
            else "#1f93ff",
            "website_url": cut(r["website_url"], 500),
            "welcome_title": cut(r["welcome_title"], 255),
            "welcome_tagline": cut(r["welcome_tagline"], 500),
            "reply_time": REPLY_TIME.get(r["reply_time"] or 0, "in_a_few_minutes"),
            "allowed_domains": _domains(r["allowed_domains"]),
        }
        website_token, hmac = r["website_token"], r["w_hmac"]
        hmac_mandatory = bool(r["w_hmac_mandatory"])
    elif channel == "api":
        if r["api_identifier"] is None:
            raise Skip("API channel row missing")
        url = r["webhook_url"] or ""
        config = {"callback_url": url[:2000] if url.startswith(("http://", "https://")) else ""}
        api_identifier, hmac = r["api_identifier"], r["a_hmac"]
        hmac_mandatory = bool(r["a_hmac_mandatory"])
    else:
        if r["e_email"] is None:
            raise Skip("email channel row missing")
        config = {"email": r["e_email"].strip().lower()}
        hmac = None
    # A channel without a secret gets one (deterministic per source row, so re-runs agree).
    token = hmac or c.extra["fallback_hmac"](r["id"])
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "name": cut(r["name"], 255),
        "channel_type": channel,
        "channel_config": config,
        "website_token": website_token,
        "api_identifier": api_identifier,
        "_hmac_token": token,
        "hmac_mandatory": hmac_mandatory,
        "greeting_enabled": bool(r["greeting_enabled"]),
        "greeting_message": r["greeting_message"] or "",
        "out_of_office_message": r["out_of_office_message"] or "",
        "working_hours_enabled": bool(r["working_hours_enabled"]),
        "timezone": cut(r["timezone"], 64) or "UTC",
        "enable_auto_assignment": r["enable_auto_assignment"] is not False,
        "created_at": ts(r["created_at"]),
        "updated_at": ts(r["updated_at"]),
    }


def inbox_member(r: Any, c: Context) -> dict[str, Any]:
    if r["account_id"] is None:
        raise Skip("inbox deleted")
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "inbox_id": c.need("inboxes", r["inbox_id"], "inbox"),
        "user_id": c.need("users", r["user_id"], "user (deleted or without email)"),
    }


def label(r: Any, c: Context) -> dict[str, Any]:
    title = (r["title"] or "").strip().lower()
    if not title:
        raise Skip("label without title")
    color = r["color"] if re.fullmatch(r"#[0-9a-fA-F]{6}", r["color"] or "") else "#1f93ff"
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "title": title[:100],
        "description": r["description"] or "",
        "color": color,
        "show_on_sidebar": r["show_on_sidebar"] is not False,
        "created_at": ts(r["created_at"]),
    }


async def prepare_contacts(conn: Any, rows: list[Any], c: Context) -> None:
    """Emails and identifiers the target accounts already hold (Chatwoot's email index is case
    sensitive, Parley's is not: the second of two addresses differing in case is left out)."""
    from sqlalchemy import func, select

    accounts = {c.ref("accounts", r["account_id"]) for r in rows} - {None}
    emails = {(r["email"] or "").strip().lower() for r in rows} - {""}
    idents = {r["identifier"] for r in rows} - {None}
    taken: set[tuple[int, str]] = set()
    if accounts and (emails or idents):
        found = await conn.execute(
            select(Contact.account_id, func.lower(Contact.email), Contact.identifier).where(
                Contact.account_id.in_(accounts),
                (func.lower(Contact.email).in_(emails or {""})) | Contact.identifier.in_(idents or {""}),
            )
        )
        for acct, email, ident in found:
            if email:
                taken.add((acct, "e:" + email))
            if ident:
                taken.add((acct, "i:" + ident))
    c.extra["taken"] = taken


def contact(r: Any, c: Context) -> dict[str, Any]:
    account_id = c.need("accounts", r["account_id"], "account")
    email = (r["email"] or "").strip().lower() or None
    extra = js(r["additional_attributes"], {})
    phone = (r["phone_number"] or "").strip() or None
    if phone is not None and len(phone) > PHONE_MAX:
        extra["chatwoot_phone_number"] = phone  # kept, where an agent can read it
        phone = None
    if email is not None and len(email) > 320:
        raise Skip("email address longer than 320 characters")
    if not c.reconciling:
        taken: set[tuple[int, str]] = c.extra["taken"]
        if email is not None and (account_id, "e:" + email) in taken:
            raise Skip(f"email {email} already belongs to another contact (the addresses differ only in case)")
        if r["identifier"] is not None and (account_id, "i:" + r["identifier"]) in taken:
            raise Skip("identifier already belongs to another contact")
        if email is not None:
            taken.add((account_id, "e:" + email))
        if r["identifier"] is not None:
            taken.add((account_id, "i:" + r["identifier"]))
    return {
        "account_id": account_id,
        "name": cut(r["name"], 255),
        "email": email,
        "phone_number": phone,
        "identifier": (r["identifier"] or None) and cut(r["identifier"], 255),
        "additional_attributes": extra,
        "custom_attributes": js(r["custom_attributes"], {}),
        "contact_type": CONTACT_TYPE.get(r["contact_type"] or 0, "visitor"),
        "blocked": bool(r["blocked"]),
        "last_activity_at": ts(r["last_activity_at"]),
        "created_at": ts(r["created_at"]),
        "updated_at": ts(r["updated_at"]),
    }


def contact_inbox(r: Any, c: Context) -> dict[str, Any]:
    if r["account_id"] is None:
        raise Skip("inbox deleted")
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "contact_id": c.need("contacts", r["contact_id"], "contact"),
        "inbox_id": c.need("inboxes", r["inbox_id"], "inbox"),
        "source_id": cut(r["source_id"], 255),
        "hmac_verified": bool(r["hmac_verified"]),
        "created_at": ts(r["created_at"]),
    }


def conversation(r: Any, c: Context) -> dict[str, Any]:
    if r["contact_id"] is None:
        raise Skip("conversation without contact")
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "display_id": r["display_id"],
        "inbox_id": c.need("inboxes", r["inbox_id"], "inbox"),
        "contact_id": c.need("contacts", r["contact_id"], "contact"),
        "contact_inbox_id": c.ref("contact_inboxes", r["contact_inbox_id"]),
        "status": CONVERSATION_STATUS.get(r["status"], "open"),
        "priority": PRIORITY.get(r["priority"]) if r["priority"] is not None else None,
        # A deleted agent's conversations become unassigned, and so do those of an agent who is no
        # member of the conversation's account (Parley's assignees are always its members).
        "assignee_id": _member(c, r["account_id"], c.ref("users", r["assignee_id"])),
        "team_id": c.ref("teams", r["team_id"]),
        "snoozed_until": ts(r["snoozed_until"]),
        "last_activity_at": ts(r["last_activity_at"]) or ts(r["created_at"]),
        "waiting_since": ts(r["waiting_since"]),
        "first_reply_created_at": ts(r["first_reply_created_at"]),
        "agent_last_seen_at": ts(r["agent_last_seen_at"]),
        "contact_last_seen_at": ts(r["contact_last_seen_at"]),
        "additional_attributes": js(r["additional_attributes"], {}),
        "custom_attributes": js(r["custom_attributes"], {}),
        "created_at": ts(r["created_at"]),
        "updated_at": ts(r["updated_at"]),
    }


def _member(c: Context, source_account: int | None, user_id: int | None) -> int | None:
    """`user_id` when that Parley user is a member of the (mapped) account, else None."""
    if user_id is None:
        return None
    return user_id if (c.ref("accounts", source_account), user_id) in c.extra["members"] else None


async def prepare_conversations(conn: Any, rows: list[Any], c: Context) -> None:
    """The memberships of the users this batch refers to, as (account, user) pairs in `members`
    (an assignee or a sender is kept only as a member of the row's account)."""
    from sqlalchemy import select

    agents = set(c.refs.get("users", {}).values())
    c.extra["members"] = set()
    if agents:
        found = await conn.execute(
            select(AccountMembership.account_id, AccountMembership.user_id).where(AccountMembership.user_id.in_(agents))
        )
        c.extra["members"] = {(int(a), int(u)) for a, u in found}


async def prepare_messages(conn: Any, rows: list[Any], c: Context) -> None:
    """Each conversation's contact (a message from a merged, deleted contact is its conversation's)
    and the senders: agents (members of the message's account) and contacts through the id map."""
    from sqlalchemy import ARRAY, BigInteger, any_, literal, select

    from db.models import ImportIdMap

    ids = {c.ref("conversations", r["conversation_id"]) for r in rows} - {None}
    found = await conn.execute(select(Conversation.id, Conversation.contact_id).where(Conversation.id.in_(ids)))
    c.extra["conversation_contact"] = dict(found.all())
    for kind, table_name in (("User", "users"), ("Contact", "contacts")):
        senders = sorted({int(r["sender_id"]) for r in rows if r["sender_type"] == kind and r["sender_id"] is not None})
        mapped = c.refs.setdefault(table_name, {})
        if senders:
            found = await conn.execute(
                select(ImportIdMap.source_id, ImportIdMap.target_id).where(
                    ImportIdMap.source == c.extra["source"],
                    ImportIdMap.source_table == table_name,
                    ImportIdMap.source_id == any_(literal(senders, ARRAY(BigInteger))),
                )
            )
            mapped.update({int(s): int(t) for s, t in found})
    await prepare_conversations(conn, rows, c)


def message(r: Any, c: Context) -> dict[str, Any]:
    conversation_id = c.need("conversations", r["conversation_id"], "conversation")
    kind = r["sender_type"]
    sender_id: int | None
    if kind == "User":
        # None: a deleted agent, or one who is no member of the account (in Parley, or not yet)
        sender_type, sender_id = "user", _member(c, r["account_id"], c.ref("users", r["sender_id"]))
    elif kind == "Contact":
        sender_type = "contact"
        sender_id = c.ref("contacts", r["sender_id"]) or c.extra["conversation_contact"].get(conversation_id)
    elif kind == "AgentBot":
        sender_type, sender_id = "bot", None
    else:
        sender_type, sender_id = "system", None
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "conversation_id": conversation_id,
        "inbox_id": c.need("inboxes", r["inbox_id"], "inbox"),
        "message_type": MESSAGE_TYPE.get(r["message_type"], "activity"),
        "content": r["content"] or "",
        "private": bool(r["private"]),
        "sender_type": sender_type,
        "sender_id": sender_id,
        "content_attributes": js(r["content_attributes"], {}),
        "source_id": (r["source_id"] or None) and cut(r["source_id"], 255),
        "created_at": ts(r["created_at"]),
    }


def sql_case(column: str, values: dict[Any, str], default: str | None) -> str:
    """A Python mapping as a SQL CASE (the transforms' maps stay the one source of the values)."""
    arms = " ".join(f"WHEN {k!r} THEN {v!r}" for k, v in values.items())
    return f"CASE {column} {arms}{'' if default is None else f' ELSE {default!r}'} END"


def sql_object(column: str) -> str:
    """`js(value, {})`: the value when it is a JSON object, else an empty one."""
    return f"CASE WHEN jsonb_typeof({column}) = 'object' THEN {column} ELSE '{{}}'::jsonb END"


def sql_lookup(name: str, table: str, column: str, where: str = "") -> str:
    """A CTE: the id map entries of the distinct source ids a staged batch refers to."""
    return (
        f"{name} AS MATERIALIZED (SELECT m.source_id, m.target_id FROM import_id_map m WHERE m.source = :source "
        f"AND m.source_table = '{table}' AND m.source_id IN (SELECT DISTINCT {column} FROM stage{where}))"
    )


# `conversation` above, in SQL (see MESSAGE_SQL below).
CONVERSATION_SQL = f"""
{sql_lookup("acct", "accounts", "account_id")},
{sql_lookup("inbox", "inboxes", "inbox_id")},
{sql_lookup("person", "contacts", "contact_id")},
{sql_lookup("ci", "contact_inboxes", "contact_inbox_id")},
{sql_lookup("agent", "users", "assignee_id")},
{sql_lookup("team", "teams", "team_id")},
batch AS MATERIALIZED (
  SELECT s.id AS row_id, s.account_id AS source_account,
    CASE WHEN s.contact_id IS NULL THEN 'conversation without contact'
         WHEN acct.target_id IS NULL THEN 'account not imported'
         WHEN inbox.target_id IS NULL THEN 'inbox not imported'
         WHEN person.target_id IS NULL THEN 'contact not imported' END AS skip,
    acct.target_id AS account_id, s.display_id, inbox.target_id AS inbox_id, person.target_id AS contact_id,
    ci.target_id AS contact_inbox_id,
    {sql_case("s.status", CONVERSATION_STATUS, "open")} AS status,
    {sql_case("s.priority", PRIORITY, None)} AS priority,
    member.user_id AS assignee_id, team.target_id AS team_id,
    s.snoozed_until, coalesce(s.last_activity_at, s.created_at) AS last_activity_at, s.waiting_since,
    s.first_reply_created_at, s.agent_last_seen_at, s.contact_last_seen_at,
    {sql_object("s.additional_attributes")} AS additional_attributes,
    {sql_object("s.custom_attributes")} AS custom_attributes,
    s.created_at, s.updated_at
  FROM stage s
  LEFT JOIN acct ON acct.source_id = s.account_id
  LEFT JOIN inbox ON inbox.source_id = s.inbox_id
  LEFT JOIN person ON person.source_id = s.contact_id
  LEFT JOIN ci ON ci.source_id = s.contact_inbox_id
  LEFT JOIN agent ON agent.source_id = s.assignee_id
  LEFT JOIN account_memberships member ON member.account_id = acct.target_id AND member.user_id = agent.target_id
  LEFT JOIN team ON team.source_id = s.team_id),
new AS MATERIALIZED (
  SELECT (CAST(:ids AS bigint[]))[row_number() OVER (ORDER BY b.row_id)] AS id, b.*
  FROM (SELECT * FROM batch WHERE skip IS NULL) b),
written AS (
  INSERT INTO conversations (id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, priority,
    assignee_id, team_id, snoozed_until, last_activity_at, waiting_since, first_reply_created_at, agent_last_seen_at,
    contact_last_seen_at, additional_attributes, custom_attributes, created_at, updated_at)
  SELECT id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, priority,
    assignee_id, team_id, snoozed_until, last_activity_at, waiting_since, first_reply_created_at, agent_last_seen_at,
    contact_last_seen_at, additional_attributes, custom_attributes, created_at, updated_at FROM new),
mapped AS (
  INSERT INTO import_id_map (source, source_table, source_id, target_id, account_id, created)
  SELECT :source, 'conversations', row_id, id, account_id, true FROM new),
skipped AS (
  INSERT INTO import_skips (source, source_table, source_id, account_id, reason)
  SELECT :source, 'conversations', row_id, source_account, skip FROM batch WHERE skip IS NOT NULL
  ON CONFLICT DO NOTHING)
SELECT (SELECT count(*) FROM new) AS new, (SELECT count(*) FROM batch WHERE skip IS NOT NULL) AS skipped{{checks}}
"""

# New conversations continue after the highest display id (a statement of its own: the batch's
# statement locks the accounts it checks, and a row it also updated would not be found).
CONVERSATION_AFTER = """
UPDATE accounts a SET conversation_seq = greatest(a.conversation_seq, h.display_id)
FROM (SELECT c.account_id, max(c.display_id) AS display_id FROM conversations c
      WHERE c.id IN (SELECT m.target_id FROM import_id_map m WHERE m.source = :source
                     AND m.source_table = 'conversations' AND m.source_id IN (SELECT id FROM stage))
      GROUP BY c.account_id) h
WHERE a.id = h.account_id
"""

CONVERSATION_STAGE = Staged(
    "conversations",
    {
        "id": "bigint",
        "account_id": "bigint",
        "inbox_id": "bigint",
        "contact_id": "bigint",
        "contact_inbox_id": "bigint",
        "display_id": "integer",
        "status": "integer",
        "priority": "integer",
        "assignee_id": "bigint",
        "team_id": "bigint",
        "snoozed_until": "timestamptz",
        "last_activity_at": "timestamptz",
        "waiting_since": "timestamptz",
        "first_reply_created_at": "timestamptz",
        "agent_last_seen_at": "timestamptz",
        "contact_last_seen_at": "timestamptz",
        "additional_attributes": "jsonb",
        "custom_attributes": "jsonb",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    CONVERSATION_SQL,
    after=CONVERSATION_AFTER,
)


SENDER_TYPE = {"User": "user", "Contact": "contact", "AgentBot": "bot"}

# `message` above, in SQL, for a batch of staged rows: the look-ups go to the id map once per
# distinct source id (conversations, accounts, inboxes, senders), the skips keep the transform's
# order and reasons (conversation, account, inbox), ids are drawn in source order.
MESSAGE_SQL = f"""
conv AS MATERIALIZED (
  SELECT m.source_id, m.target_id FROM import_id_map m
  WHERE m.source = :source AND m.source_table = 'conversations'
    AND m.source_id IN (SELECT DISTINCT conversation_id FROM stage)),
acct AS MATERIALIZED (
  SELECT m.source_id, m.target_id FROM import_id_map m
  WHERE m.source = :source AND m.source_table = 'accounts' AND m.source_id IN (SELECT DISTINCT account_id FROM stage)),
inbox AS MATERIALIZED (
  SELECT m.source_id, m.target_id FROM import_id_map m
  WHERE m.source = :source AND m.source_table = 'inboxes' AND m.source_id IN (SELECT DISTINCT inbox_id FROM stage)),
agent AS MATERIALIZED (
  SELECT m.source_id, m.target_id FROM import_id_map m
  WHERE m.source = :source AND m.source_table = 'users'
    AND m.source_id IN (SELECT DISTINCT sender_id FROM stage WHERE sender_type = 'User')),
person AS MATERIALIZED (
  SELECT m.source_id, m.target_id FROM import_id_map m
  WHERE m.source = :source AND m.source_table = 'contacts'
    AND m.source_id IN (SELECT DISTINCT sender_id FROM stage WHERE sender_type = 'Contact')),
conversation_contact AS MATERIALIZED (
  SELECT c.id, c.contact_id FROM conversations c WHERE c.id IN (SELECT target_id FROM conv)),
batch AS MATERIALIZED (
  SELECT s.id AS row_id, s.account_id AS source_account,
    CASE WHEN conv.target_id IS NULL THEN 'conversation not imported'
         WHEN acct.target_id IS NULL THEN 'account not imported'
         WHEN inbox.target_id IS NULL THEN 'inbox not imported' END AS skip,
    acct.target_id AS account_id, conv.target_id AS conversation_id, inbox.target_id AS inbox_id,
    {sql_case("s.message_type", MESSAGE_TYPE, "activity")} AS message_type,
    coalesce(s.content, '') AS content,
    coalesce(s.private, false) AS private,
    {sql_case("s.sender_type", SENDER_TYPE, "system")} AS sender_type,
    CASE s.sender_type WHEN 'User' THEN member.user_id
                       WHEN 'Contact' THEN coalesce(person.target_id, cc.contact_id) END AS sender_id,
    {sql_object("s.content_attributes")} AS content_attributes,
    left(nullif(s.source_id, ''), 255) AS source_id,
    s.created_at
  FROM stage s
  LEFT JOIN conv ON conv.source_id = s.conversation_id
  LEFT JOIN acct ON acct.source_id = s.account_id
  LEFT JOIN inbox ON inbox.source_id = s.inbox_id
  LEFT JOIN agent ON s.sender_type = 'User' AND agent.source_id = s.sender_id
  LEFT JOIN person ON s.sender_type = 'Contact' AND person.source_id = s.sender_id
  LEFT JOIN account_memberships member ON member.account_id = acct.target_id AND member.user_id = agent.target_id
  LEFT JOIN conversation_contact cc ON cc.id = conv.target_id),
new AS MATERIALIZED (
  SELECT (CAST(:ids AS bigint[]))[row_number() OVER (ORDER BY b.row_id)] AS id, b.*
  FROM (SELECT * FROM batch WHERE skip IS NULL) b),
written AS (
  INSERT INTO messages (id, account_id, conversation_id, inbox_id, message_type, content, private, sender_type,
                        sender_id, content_attributes, source_id, created_at)
  SELECT id, account_id, conversation_id, inbox_id, message_type, content, private, sender_type,
         sender_id, content_attributes, source_id, created_at FROM new),
mapped AS (
  INSERT INTO import_id_map (source, source_table, source_id, target_id, account_id, created)
  SELECT :source, 'messages', row_id, id, account_id, true FROM new),
skipped AS (
  INSERT INTO import_skips (source, source_table, source_id, account_id, reason)
  SELECT :source, 'messages', row_id, source_account, skip FROM batch WHERE skip IS NOT NULL
  ON CONFLICT DO NOTHING)
SELECT (SELECT count(*) FROM new) AS new, (SELECT count(*) FROM batch WHERE skip IS NOT NULL) AS skipped{{checks}}
"""

MESSAGE_STAGE = Staged(
    "messages",
    {
        "id": "bigint",
        "account_id": "bigint",
        "inbox_id": "bigint",
        "conversation_id": "bigint",
        "message_type": "integer",
        "content": "text",
        "private": "boolean",
        "sender_type": "text",
        "sender_id": "bigint",
        "content_attributes": "jsonb",
        "source_id": "text",
        "created_at": "timestamptz",
    },
    MESSAGE_SQL,
)


def attachment_key(account_id: int, source: str, source_id: int) -> str:
    import hashlib

    tag = hashlib.sha256(source.encode()).hexdigest()[:12]
    return f"accounts/{account_id}/attachments/chatwoot-{tag}-{source_id}"


def blob_path(root: str, key: str) -> str:
    return f"{root}/{key[0:2]}/{key[2:4]}/{key}"  # ActiveStorage's disk service layout


def attachment(r: Any, c: Context) -> dict[str, Any]:
    import os

    message_id = c.need("messages", r["message_id"], "message")
    account_id = c.need("accounts", r["account_id"], "account")
    if r["blob_key"] is None:
        raise Skip("no stored file (a location or an external link)")
    if not c.reconciling:
        if c.storage_dir is None:
            raise Skip("file not copied: no --storage-dir given")
        if r["service_name"] not in ("local", "disk", "test"):
            raise Skip(f"file on ActiveStorage service {r['service_name']!r}, not on disk")
        if not os.path.isfile(blob_path(c.storage_dir, r["blob_key"])):
            raise Skip("file missing from storage")
    return {
        "account_id": account_id,
        "message_id": message_id,
        "file_type": FILE_TYPE.get(r["file_type"] or 0, "file"),
        "file_name": cut(r["filename"], 255) or "file",
        "content_type": cut(r["content_type"], 255) or "application/octet-stream",
        "byte_size": r["byte_size"],
        "storage_key": attachment_key(account_id, c.extra["source"], r["id"]),
        "status": "attached",
        "_stored": True,
        "created_at": ts(r["created_at"]),
        "_blob": (r["blob_key"], r["checksum"]),
    }


async def prepare_taggings(conn: Any, rows: list[Any], c: Context) -> None:
    from sqlalchemy import select

    accounts = {c.ref("accounts", r["account_id"]) for r in rows} - {None}
    found = await conn.execute(select(Label.account_id, Label.title, Label.id).where(Label.account_id.in_(accounts)))
    c.extra["labels"] = {(a, t): i for a, t, i in found}
    c.extra["pairs"] = set()


def tagging(r: Any, c: Context) -> dict[str, Any]:
    if r["taggable_type"] != "Conversation" or (r["context"] or "labels") != "labels":
        raise Skip(f"{r['taggable_type']} labels are not imported (Parley labels conversations)")
    if r["account_id"] is None:
        raise Skip("conversation deleted")
    account_id = c.need("accounts", r["account_id"], "account")
    conversation_id = c.need("conversations", r["taggable_id"], "conversation")
    title = (r["tag_name"] or "").strip().lower()
    label_id = c.extra["labels"].get((account_id, title))
    if label_id is None:
        raise Skip(f"no label titled {title!r} in the account")
    if not c.reconciling:
        if (conversation_id, label_id) in c.extra["pairs"]:
            raise Skip("the same label twice on one conversation")
        c.extra["pairs"].add((conversation_id, label_id))
    return {"conversation_id": conversation_id, "label_id": label_id, "account_id": account_id}


def canned(r: Any, c: Context) -> dict[str, Any]:
    code = (r["short_code"] or "").strip()
    if not code or not r["content"]:
        raise Skip("canned response without short code or content")
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "short_code": code[:100],
        "content": r["content"],
        "created_at": ts(r["created_at"]),
    }


def attribute(r: Any, c: Context) -> dict[str, Any]:
    if not r["attribute_key"]:
        raise Skip("attribute without key")
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "attribute_model": ATTRIBUTE_MODEL.get(r["attribute_model"] or 0, "conversation"),
        "attribute_key": cut(r["attribute_key"], 100),
        "display_name": cut(r["attribute_display_name"], 255) or r["attribute_key"][:255],
        "display_type": DISPLAY_TYPE.get(r["attribute_display_type"] or 0, "text"),
        "description": r["attribute_description"] or "",
        "list_values": js(r["attribute_values"], []),
        "regex_pattern": (r["regex_pattern"] or None) and cut(r["regex_pattern"], 255),
        "regex_cue": (r["regex_cue"] or None) and cut(r["regex_cue"], 255),
        "created_at": ts(r["created_at"]),
    }


def webhook(r: Any, c: Context) -> dict[str, Any]:
    url = r["url"] or ""
    if not url.startswith(("http://", "https://")):
        raise Skip("webhook URL is not http(s)")
    secret_encrypted, key_id, hint = c.extra["new_webhook_secret"]()
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "url": url[:2048],
        "description": cut(r["name"], 1000),
        "events": js(r["subscriptions"], []),
        "inbox_id": c.ref("inboxes", r["inbox_id"]) if r["webhook_type"] == 1 else None,
        # Imported switched off: while both helpdesks run, Chatwoot still calls these URLs.
        "enabled": False,
        "disabled_reason": WEBHOOK_DISABLED,
        "secret_encrypted": secret_encrypted,
        "secret_key_id": key_id,
        "secret_hint": hint,
        "created_at": ts(r["created_at"]),
        "updated_at": ts(r["updated_at"]),
    }


def csat(r: Any, c: Context) -> dict[str, Any]:
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        "conversation_id": c.need("conversations", r["conversation_id"], "conversation"),
        "contact_id": c.ref("contacts", r["contact_id"]),
        "assignee_id": c.ref("users", r["assigned_agent_id"]),
        "rating": max(1, min(5, int(r["rating"]))),
        "feedback": r["feedback_message"] or "",
        "created_at": ts(r["created_at"]),
    }


def reporting_event(r: Any, c: Context) -> dict[str, Any]:
    if not r["name"]:
        raise Skip("reporting event without name")
    end = ts(r["event_end_time"]) or ts(r["created_at"])
    assert c.target_id is not None
    return {
        "account_id": c.need("accounts", r["account_id"], "account"),
        # Unique with the name; negative so it never meets an id of Parley's own event log.
        "source_event_id": -c.target_id,
        "name": r["name"][:40],
        "value": float(r["value"] or 0.0),
        "value_in_business_hours": float(r["value_in_business_hours"] or 0.0),
        "conversation_id": c.ref("conversations", r["conversation_id"]),
        "inbox_id": c.ref("inboxes", r["inbox_id"]),
        "user_id": c.ref("users", r["user_id"]),
        "team_id": None,
        "event_start_time": ts(r["event_start_time"]) or end,
        "event_end_time": end,
        "created_at": ts(r["created_at"]),
    }


ACCOUNT = "t.account_id = $2"

SPECS: list[Spec] = [
    Spec(
        "accounts",
        table(Account),
        "SELECT t.* FROM accounts t",
        "t.id = $2",
        account,
        check=("name", "status"),
        account_column="id",
    ),
    Spec(
        "users",
        table(User),
        "SELECT t.* FROM users t",
        "t.id IN (SELECT user_id FROM account_users WHERE account_id = $2)",
        user,
        check=("email", "password_hash", "name"),
        account_column=None,
    ),
    Spec(
        "account_users",
        table(AccountMembership),
        "SELECT t.* FROM account_users t",
        ACCOUNT,
        membership,
        refs={"account_id": "accounts", "user_id": "users", "inviter_id": "users"},
        check=("account_id", "user_id", "role"),
        ids={"account_id": "accounts", "user_id": "users"},
    ),
    Spec(
        "teams",
        table(Team),
        "SELECT t.* FROM teams t",
        ACCOUNT,
        team,
        refs={"account_id": "accounts"},
        check=("name", "account_id"),
        ids={"account_id": "accounts"},
    ),
    Spec(
        "team_members",
        table(TeamMember),
        "SELECT t.*, tm.account_id FROM team_members t LEFT JOIN teams tm ON tm.id = t.team_id",
        "tm.account_id = $2",
        team_member,
        refs={"account_id": "accounts", "team_id": "teams", "user_id": "users"},
        check=("team_id", "user_id"),
        ids={"team_id": "teams", "user_id": "users"},
    ),
    Spec(
        "inboxes",
        table(Inbox),
        """SELECT t.*, w.website_url, w.website_token, w.widget_color, w.welcome_title, w.welcome_tagline,
         w.reply_time, w.hmac_token AS w_hmac, w.hmac_mandatory AS w_hmac_mandatory, w.allowed_domains,
         a.identifier AS api_identifier, a.webhook_url, a.hmac_token AS a_hmac, a.hmac_mandatory AS a_hmac_mandatory,
         e.email AS e_email
         FROM inboxes t
         LEFT JOIN channel_web_widgets w ON t.channel_type = 'Channel::WebWidget' AND w.id = t.channel_id
         LEFT JOIN channel_api a ON t.channel_type = 'Channel::Api' AND a.id = t.channel_id
         LEFT JOIN channel_email e ON t.channel_type = 'Channel::Email' AND e.id = t.channel_id""",
        ACCOUNT,
        inbox,
        refs={"account_id": "accounts"},
        check=("name", "channel_type", "website_token", "api_identifier", "_hmac_token", "channel_config"),
    ),
    Spec(
        "inbox_members",
        table(InboxMember),
        "SELECT t.*, i.account_id FROM inbox_members t LEFT JOIN inboxes i ON i.id = t.inbox_id",
        "i.account_id = $2",
        inbox_member,
        refs={"account_id": "accounts", "inbox_id": "inboxes", "user_id": "users"},
        check=("inbox_id", "user_id"),
        ids={"inbox_id": "inboxes", "user_id": "users"},
    ),
    Spec(
        "labels",
        table(Label),
        "SELECT t.* FROM labels t",
        ACCOUNT,
        label,
        refs={"account_id": "accounts"},
        check=("title", "color"),
    ),
    Spec(
        "contacts",
        table(Contact),
        "SELECT t.* FROM contacts t",
        ACCOUNT,
        contact,
        refs={"account_id": "accounts"},
        check=("name", "email", "phone_number", "identifier"),
        prepare=prepare_contacts,
    ),
    Spec(
        "contact_inboxes",
        table(ContactInbox),
        "SELECT t.*, i.account_id FROM contact_inboxes t LEFT JOIN inboxes i ON i.id = t.inbox_id",
        "i.account_id = $2",
        contact_inbox,
        refs={"account_id": "accounts", "contact_id": "contacts", "inbox_id": "inboxes"},
        check=("contact_id", "inbox_id", "source_id"),
        ids={"contact_id": "contacts", "inbox_id": "inboxes"},
    ),
    Spec(
        "conversations",
        table(Conversation),
        "SELECT t.* FROM conversations t",
        ACCOUNT,
        conversation,
        refs={
            "account_id": "accounts",
            "inbox_id": "inboxes",
            "contact_id": "contacts",
            "contact_inbox_id": "contact_inboxes",
            "assignee_id": "users",
            "team_id": "teams",
        },
        check=("display_id", "status", "contact_id", "assignee_id", "team_id"),
        ids={"contact_id": "contacts", "assignee_id": "users", "team_id": "teams"},
        prepare=prepare_conversations,
        staged=CONVERSATION_STAGE,
    ),
    Spec(
        "messages",
        table(Message),
        "SELECT t.* FROM messages t",
        ACCOUNT,
        message,
        refs={"account_id": "accounts", "inbox_id": "inboxes", "conversation_id": "conversations"},
        check=("content", "message_type", "private", "sender_type", "sender_id"),
        prepare=prepare_messages,
        ids={"sender_id": "sender"},
        staged=MESSAGE_STAGE,
    ),
    Spec(
        "attachments",
        table(Attachment),
        """SELECT t.*, b.key AS blob_key, b.filename, b.content_type, b.byte_size, b.checksum, b.service_name
         FROM attachments t
         LEFT JOIN active_storage_attachments aa ON aa.record_type = 'Attachment' AND aa.name = 'file'
           AND aa.record_id = t.id
         LEFT JOIN active_storage_blobs b ON b.id = aa.blob_id""",
        ACCOUNT,
        attachment,
        refs={"account_id": "accounts", "message_id": "messages"},
        check=("file_name", "byte_size", "message_id", "_stored"),
        ids={"message_id": "messages"},
    ),
    Spec(
        "taggings",
        table(ConversationLabel),
        """SELECT t.*, tg.name AS tag_name,
           CASE t.taggable_type WHEN 'Conversation' THEN (SELECT account_id FROM conversations WHERE id = t.taggable_id)
             WHEN 'Contact' THEN (SELECT account_id FROM contacts WHERE id = t.taggable_id) END AS account_id
         FROM taggings t LEFT JOIN tags tg ON tg.id = t.tag_id""",
        """CASE t.taggable_type WHEN 'Conversation' THEN (SELECT account_id FROM conversations WHERE id = t.taggable_id)
             WHEN 'Contact' THEN (SELECT account_id FROM contacts WHERE id = t.taggable_id) END = $2""",
        tagging,
        refs={"account_id": "accounts", "taggable_id": "conversations"},
        check=("conversation_id", "label_id"),
        has_id=False,
        ids={"conversation_id": "conversations", "label_id": "labels"},
        key=("conversation_id", "label_id"),
        prepare=prepare_taggings,
    ),
    Spec(
        "canned_responses",
        table(CannedResponse),
        "SELECT t.* FROM canned_responses t",
        ACCOUNT,
        canned,
        refs={"account_id": "accounts"},
        check=("short_code", "content"),
    ),
    Spec(
        "custom_attribute_definitions",
        table(CustomAttributeDefinition),
        "SELECT t.* FROM custom_attribute_definitions t",
        ACCOUNT,
        attribute,
        refs={"account_id": "accounts"},
        check=("attribute_model", "attribute_key", "display_type", "list_values"),
    ),
    Spec(
        "webhooks",
        table(Webhook),
        "SELECT t.* FROM webhooks t",
        ACCOUNT,
        webhook,
        refs={"account_id": "accounts", "inbox_id": "inboxes"},
        check=("url", "events", "enabled", "inbox_id"),
        ids={"inbox_id": "inboxes"},
    ),
    Spec(
        "csat_survey_responses",
        table(CsatResponse),
        "SELECT t.* FROM csat_survey_responses t",
        ACCOUNT,
        csat,
        refs={
            "account_id": "accounts",
            "conversation_id": "conversations",
            "contact_id": "contacts",
            "assigned_agent_id": "users",
        },
        check=("conversation_id", "rating", "feedback"),
        ids={"conversation_id": "conversations"},
    ),
    Spec(
        "reporting_events",
        table(ReportingEvent),
        "SELECT t.* FROM reporting_events t",
        ACCOUNT,
        reporting_event,
        refs={"account_id": "accounts", "conversation_id": "conversations", "inbox_id": "inboxes", "user_id": "users"},
        check=("name", "value", "conversation_id"),
        ids={"conversation_id": "conversations"},
    ),
]

SPEC_BY_NAME = {s.name: s for s in SPECS}
