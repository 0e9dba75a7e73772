"""The product benchmark's data set, in bulk SQL on Parley's own schema: one big account (50 agents,
5 inboxes, 20 labels, 20,000 contacts, 50,000 conversations, 500,000 messages at full scale) and 4
accounts at a tenth of its size, so every query runs against a database that also holds other tenants.

The shape follows the fast-path experiment's seeder: ~20 % of the conversations open, 6 % pending,
4 % snoozed, the rest resolved, 80 % assigned, 0–3 labels; every conversation opens with an incoming
message and the rest are spread over them (45 % incoming, 5 % of the replies private notes), except
that the big account's first conversations are long (60 messages) so that opening a conversation
shows 50 of them. Parley's denormalised columns are filled the way the services keep them
(display ids and `conversation_seq`, last activity, first reply, waiting since, contact inboxes,
message ids in time order); secondary indexes and foreign keys are dropped during the load and
re-created from their own definitions, so the schema stays exactly what the migrations made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

BULK_TABLES = (
    "users",
    "account_memberships",
    "inboxes",
    "inbox_members",
    "labels",
    "contacts",
    "contact_inboxes",
    "conversations",
    "conversation_labels",
    "messages",
)
LONG_MESSAGES = 60  # messages of each long conversation of the big account


@dataclass(frozen=True)
class Scale:
    factor: float = 1.0
    agents: int = 50
    inboxes: int = 5
    labels: int = 20
    contacts: int = 20_000
    conversations: int = 50_000
    messages: int = 500_000
    noise_accounts: int = 4
    noise_ratio: float = 0.1

    @property
    def big_conversations(self) -> int:
        return max(1, round(self.conversations * self.factor))

    @property
    def big_messages(self) -> int:
        return max(1, round(self.messages * self.factor))

    @property
    def long_conversations(self) -> int:
        """How many of the big account's conversations get LONG_MESSAGES messages."""
        return max(5, min(200, self.big_conversations // 250))

    def describe(self) -> str:
        return (
            f"{self.big_conversations:,} conversations, {self.big_messages:,} messages, "
            f"{max(1, round(self.contacts * self.factor)):,} contacts, {self.agents} agents "
            f"+ {self.noise_accounts} accounts at {self.noise_ratio:.0%}"
        )


LOREM = (
    "Hi there, I cannot log in to my account since this morning and the password reset email never arrives. "
    "Thanks for reaching out! I have checked your account and the reset link was sent to the address on file; "
    "could you look in the spam folder? We were charged twice for the March invoice, please refund the duplicate "
    "payment as soon as possible. The order shipped yesterday and the tracking number should be active within "
    "24 hours. Our integration with the API started returning 429 errors after the last deploy, is there a new "
    "rate limit? I have escalated this to the engineering team and will update you once we have more "
    "information. Can you add two more seats to our plan and send the updated quote to finance? The mobile app "
    "crashes when I open the settings page on Android 14. Closing this conversation as resolved, feel free to "
    "reply if anything else comes up. "
)


def _in_bulk(column: str) -> str:
    return f"{column} IN ({', '.join(repr(t) for t in BULK_TABLES)})"


def steps(s: Scale, password_hash: str) -> list[tuple[str, str]]:
    """(label, SQL) in order; run on one connection (temporary tables carry the plan between steps)."""
    rel = "c.conrelid::regclass::text"
    idx = "i.indrelid::regclass::text"
    lorem = LOREM.replace("'", "''")
    return [
        (
            "emptied the tables, set the indexes aside",
            f"""
TRUNCATE accounts, users RESTART IDENTITY CASCADE;
CREATE TEMP TABLE saved_ddl (ord int, ddl text);
INSERT INTO saved_ddl
SELECT CASE c.contype WHEN 'u' THEN 0 ELSE 3 END,
       format('ALTER TABLE %I ADD CONSTRAINT %I %s', {rel}, c.conname, pg_get_constraintdef(c.oid))
  FROM pg_constraint c WHERE c.contype IN ('f', 'u') AND {_in_bulk(rel)}
UNION ALL
SELECT 1, pg_get_indexdef(i.indexrelid) FROM pg_index i
 WHERE {_in_bulk(idx)} AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT {rel} AS t, c.conname FROM pg_constraint c WHERE c.contype = 'f' AND {_in_bulk(rel)} LOOP
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.t, r.conname);
  END LOOP;
  FOR r IN SELECT {rel} AS t, c.conname FROM pg_constraint c WHERE c.contype = 'u' AND {_in_bulk(rel)} LOOP
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.t, r.conname);
  END LOOP;
  FOR r IN SELECT i.indexrelid::regclass::text AS ix FROM pg_index i
            WHERE {_in_bulk(idx)} AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) LOOP
    EXECUTE format('DROP INDEX %I', r.ix);
  END LOOP;
END $$;
SELECT setseed(0.42);
CREATE TEMP TABLE plan AS
WITH a AS (
  SELECT g AS account_id, CASE WHEN g = 1 THEN 1.0 ELSE {s.noise_ratio}::numeric END AS f
    FROM generate_series(1, 1 + {s.noise_accounts}) g
), n AS (
  SELECT account_id,
         greatest(1, round({s.agents} * f))::int                         AS n_users,
         greatest(1, round({s.inboxes} * f))::int                        AS n_inboxes,
         greatest(1, round({s.labels} * f))::int                         AS n_labels,
         greatest(1, round({s.contacts} * {s.factor} * f))::int          AS n_contacts,
         greatest(1, round({s.conversations} * {s.factor} * f))::int     AS n_convs,
         greatest(1, round({s.messages} * {s.factor} * f))::int          AS n_msgs,
         CASE WHEN account_id = 1 THEN {s.long_conversations} ELSE 0 END AS n_long
    FROM a
)
SELECT n.*,
  coalesce(sum(n_users)    OVER w, 0)::bigint AS off_users,
  coalesce(sum(n_inboxes)  OVER w, 0)::bigint AS off_inboxes,
  coalesce(sum(n_labels)   OVER w, 0)::bigint AS off_labels,
  coalesce(sum(n_contacts) OVER w, 0)::bigint AS off_contacts,
  coalesce(sum(n_convs)    OVER w, 0)::bigint AS off_convs
FROM n WINDOW w AS (ORDER BY account_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING);
""",
        ),
        (
            "accounts, agents, inboxes, labels",
            f"""
INSERT INTO accounts (id, name, locale, timezone, status, settings, conversation_seq, event_seq, created_at, updated_at)
SELECT account_id, CASE WHEN account_id = 1 THEN 'Acme Support' ELSE 'Noise Co ' || account_id END,
       'en', 'UTC', 'active', '{{}}'::jsonb, n_convs, 0, now() - interval '400 days', now() - interval '400 days'
  FROM plan ORDER BY account_id;
INSERT INTO users (id, name, display_name, email, password_hash, availability, is_super_admin, sessions_valid_after,
                   email_verified, created_at, updated_at)
SELECT p.off_users + i,
       (ARRAY['Alice','Bruno','Chen','Dana','Emeka','Fatima','Gustav','Hana','Ivan','Jade'])[1 + (i % 10)]
         || ' ' || (ARRAY['Smith','Okafor','Müller','Tanaka','Silva','Nguyen','Kowalski','Haddad'])[1 + (i % 8)] || ' ' || i,
       NULL, 'agent' || i || '@account' || p.account_id || '.example.com', '{password_hash}',
       (ARRAY['online','busy','offline'])[1 + floor(random() * 3)::int], false, NULL, true,
       now() - interval '390 days' + i * interval '1 day', now() - interval '390 days' + i * interval '1 day'
  FROM plan p, generate_series(1, p.n_users) i ORDER BY 1;
INSERT INTO account_memberships (id, account_id, user_id, role, custom_role_id, inviter_id, created_at)
SELECT p.off_users + i, p.account_id, p.off_users + i, CASE WHEN i <= 2 THEN 'administrator' ELSE 'agent' END,
       NULL, CASE WHEN i > 1 THEN p.off_users + 1 END, now() - interval '390 days' + i * interval '1 day'
  FROM plan p, generate_series(1, p.n_users) i ORDER BY 1;
INSERT INTO inboxes (id, account_id, name, channel_type, channel_config, website_token, api_identifier,
                     hmac_token_encrypted, hmac_token_key_id, hmac_mandatory, greeting_enabled, greeting_message,
                     out_of_office_message, working_hours_enabled, working_hours, timezone, enable_auto_assignment,
                     created_at, updated_at)
SELECT p.off_inboxes + i, p.account_id,
       (ARRAY['Website chat','Support email','WhatsApp','Facebook','API','Telegram','SMS'])[1 + ((i - 1) % 7)]
         || CASE WHEN i > 7 THEN ' ' || i ELSE '' END,
       ct,
       CASE ct WHEN 'web_widget' THEN jsonb_build_object('widget_color', '#1f93ff', 'website_url', 'https://acme.example.com',
                                                         'welcome_title', 'Hi there!', 'welcome_tagline', 'We reply in a few minutes.',
                                                         'reply_time', 'in_a_few_minutes', 'allowed_domains', '[]'::jsonb)
               WHEN 'email' THEN jsonb_build_object('email', 'support' || i || '@account' || p.account_id || '.example.com')
               ELSE jsonb_build_object('callback_url', '') END,
       CASE WHEN ct = 'web_widget' THEN 'wt' || md5('website' || p.account_id || ':' || i) END,
       CASE WHEN ct = 'api' THEN 'api' || md5('api' || p.account_id || ':' || i) END,
       '', '', false, false, '', '', false, '[]'::jsonb, 'UTC', true,
       now() - interval '395 days', now() - interval '395 days'
  FROM plan p, generate_series(1, p.n_inboxes) i,
       LATERAL (SELECT (ARRAY['web_widget','email','api','api','api','api','api'])[1 + ((i - 1) % 7)] AS ct WHERE i > 0) x
 ORDER BY 1;
INSERT INTO inbox_members (account_id, inbox_id, user_id)
SELECT p.account_id, p.off_inboxes + b, p.off_users + u
  FROM plan p, generate_series(1, p.n_inboxes) b, generate_series(1, p.n_users) u ORDER BY 2, 3;
INSERT INTO labels (id, account_id, title, description, color, show_on_sidebar, created_at)
SELECT p.off_labels + i, p.account_id,
       (ARRAY['billing','bug','feature-request','refund','onboarding','urgent','vip','churn-risk',
              'shipping','login','api','mobile','invoice','cancellation','feedback','security',
              'integration','enterprise','trial','spam'])[1 + ((i - 1) % 20)] || CASE WHEN i > 20 THEN '-' || i ELSE '' END,
       '', '#' || lpad(to_hex((i * 2654435761) % 16777216), 6, '0'), true, now() - interval '395 days'
  FROM plan p, generate_series(1, p.n_labels) i ORDER BY 1;
""",
        ),
        (
            "contacts",
            """
INSERT INTO contacts (id, account_id, name, email, phone_number, identifier, additional_attributes, custom_attributes,
                      contact_type, blocked, last_activity_at, created_at, updated_at)
SELECT p.off_contacts + i, p.account_id, fn || ' ' || ln,
       CASE WHEN random() < 0.9 THEN lower(fn) || '.' || lower(ln) || i || '@mail' || (i % 7) || '.example.org' END,
       CASE WHEN random() < 0.5 THEN '+1555' || lpad((i % 10000000)::text, 7, '0') END,
       NULL, '{}'::jsonb, '{}'::jsonb,
       CASE WHEN random() < 0.6 THEN 'customer' WHEN random() < 0.5 THEN 'lead' ELSE 'visitor' END,
       false, NULL, c_at, c_at
  FROM plan p, generate_series(1, p.n_contacts) i,
       LATERAL (SELECT (ARRAY['Olivia','Liam','Emma','Noah','Amelia','Oliver','Ava','Elijah','Sophia','Mateo',
                              'Isabella','Lucas','Mia','Levi','Aiko','Ravi','Zara','Omar','Ines','Kofi'])[1 + floor(random() * 20)::int] AS fn,
                       (ARRAY['Johnson','Garcia','Brown','Davis','Martinez','Lopez','Wilson','Anderson','Thomas','Moore',
                              'Jackson','Lee','Perez','White','Harris','Clark','Lewis','Walker','Young','King'])[1 + floor(random() * 20)::int] AS ln,
                       now() - interval '380 days' + random() * interval '370 days' AS c_at
                 WHERE i > 0) names
 ORDER BY 1;
""",
        ),
        (
            "conversation plan and contact inboxes",
            """
CREATE TEMP TABLE conv_plan AS
SELECT p.off_convs + i AS id, p.account_id, i AS display_id,
       p.off_inboxes + 1 + floor(random() * p.n_inboxes)::int AS inbox_id,
       p.off_contacts + 1 + floor(random() * p.n_contacts)::int AS contact_id,
       CASE WHEN random() < 0.8 THEN p.off_users + 1 + floor(random() * p.n_users)::int END AS assignee_id,
       CASE WHEN i <= p.n_long THEN 'open' WHEN r < 0.20 THEN 'open' WHEN r < 0.26 THEN 'pending'
            WHEN r < 0.30 THEN 'snoozed' ELSE 'resolved' END AS status,
       CASE WHEN random() < 0.3 THEN (ARRAY['low','medium','high','urgent'])[1 + floor(random() * 4)::int] END AS priority,
       c_at AS created_at
  FROM plan p, generate_series(1, p.n_convs) i,
       LATERAL (SELECT random() AS r, now() - power(random(), 2) * interval '365 days' AS c_at WHERE i > 0) x
 ORDER BY 1;
ALTER TABLE conv_plan ADD PRIMARY KEY (id);
INSERT INTO contact_inboxes (account_id, contact_id, inbox_id, source_id, hmac_verified, created_at)
SELECT cp.account_id, cp.contact_id, cp.inbox_id,
       CASE WHEN i.channel_type = 'email' AND ct.email IS NOT NULL THEN ct.email ELSE 'contact-' || cp.contact_id END,
       false, min(cp.created_at)
  FROM conv_plan cp JOIN inboxes i ON i.id = cp.inbox_id JOIN contacts ct ON ct.id = cp.contact_id
 GROUP BY cp.account_id, cp.contact_id, cp.inbox_id, i.channel_type, ct.email
 ORDER BY min(cp.created_at), cp.contact_id, cp.inbox_id;
""",
        ),
        (
            "messages",
            f"""
CREATE TEMP TABLE msg_src AS
SELECT p.account_id, p.off_convs + i AS conversation_id, true AS opener
  FROM plan p, generate_series(1, p.n_convs) i
UNION ALL
SELECT p.account_id, p.off_convs + 1 + (i % p.n_long), false
  FROM plan p, generate_series(1, p.n_long * {LONG_MESSAGES - 1}) i WHERE p.n_long > 0
UNION ALL
SELECT p.account_id, p.off_convs + 1 + p.n_long + floor(random() * (p.n_convs - p.n_long))::int, false
  FROM plan p, generate_series(1, greatest(p.n_msgs - p.n_convs - p.n_long * {LONG_MESSAGES - 1}, 0)) i
 WHERE p.n_convs > p.n_long;
INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, sender_id,
                      content_attributes, source_id, edited_at, deleted_at, created_at)
SELECT s.account_id, s.conversation_id, c.inbox_id,
       CASE WHEN st = 'contact' THEN 'incoming' ELSE 'outgoing' END,
       substr('{lorem}', 1 + floor(random() * 600)::int, 20 + floor(random() * 260)::int),
       st = 'agent' AND random() < 0.05,
       CASE WHEN st = 'contact' THEN 'contact' ELSE 'user' END,
       CASE WHEN st = 'agent' THEN coalesce(c.assignee_id, p.off_users + 1 + floor(random() * p.n_users)::int)
            ELSE c.contact_id END,
       '{{}}'::jsonb, NULL, NULL, NULL,
       CASE WHEN s.opener THEN c.created_at
            ELSE c.created_at + random() * least(interval '72 hours', now() - c.created_at) END AS created_at
  FROM msg_src s
  JOIN conv_plan c ON c.id = s.conversation_id
  JOIN plan p ON p.account_id = s.account_id,
       LATERAL (SELECT CASE WHEN s.opener OR random() < 0.45 THEN 'contact' ELSE 'agent' END AS st
                 WHERE s.conversation_id > 0) x
 ORDER BY c.id, created_at;
DROP TABLE msg_src;
""",
        ),
        (
            "conversations and their denormalised columns",
            """
CREATE TEMP TABLE conv_agg AS
SELECT conversation_id, max(created_at) AS last_at,
       min(created_at) FILTER (WHERE message_type = 'outgoing' AND NOT private) AS first_reply_at,
       max(created_at) FILTER (WHERE message_type = 'outgoing' AND NOT private) AS last_reply_at
  FROM messages GROUP BY 1;
ALTER TABLE conv_agg ADD PRIMARY KEY (conversation_id);
CREATE TEMP TABLE conv_waiting AS
SELECT m.conversation_id, min(m.created_at) AS waiting_since
  FROM messages m JOIN conv_agg a ON a.conversation_id = m.conversation_id
 WHERE m.message_type = 'incoming' AND (a.last_reply_at IS NULL OR m.created_at > a.last_reply_at)
 GROUP BY 1;
ALTER TABLE conv_waiting ADD PRIMARY KEY (conversation_id);
INSERT INTO conversations (id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, priority,
                           assignee_id, team_id, snoozed_until, last_activity_at, waiting_since, first_reply_created_at,
                           agent_last_seen_at, contact_last_seen_at, additional_attributes, custom_attributes,
                           created_at, updated_at)
SELECT c.id, c.account_id, c.display_id, c.inbox_id, c.contact_id, ci.id, c.status, c.priority, c.assignee_id, NULL,
       CASE WHEN c.status = 'snoozed' AND c.id % 2 = 0 THEN now() + (1 + c.id % 72) * interval '1 hour' END,
       a.last_at, CASE WHEN c.status = 'resolved' THEN NULL ELSE w.waiting_since END, a.first_reply_at,
       CASE WHEN c.status = 'resolved' THEN a.last_at ELSE a.last_reply_at END, a.last_at,
       '{}'::jsonb, jsonb_build_object('plan', (ARRAY['free','pro','enterprise'])[1 + c.id % 3]), c.created_at, a.last_at
  FROM conv_plan c
  JOIN conv_agg a ON a.conversation_id = c.id
  LEFT JOIN conv_waiting w ON w.conversation_id = c.id
  JOIN contact_inboxes ci ON ci.contact_id = c.contact_id AND ci.inbox_id = c.inbox_id
 ORDER BY c.id;
UPDATE contacts ct SET last_activity_at = x.last_at
  FROM (SELECT contact_id, max(last_activity_at) AS last_at FROM conversations GROUP BY 1) x WHERE x.contact_id = ct.id;
INSERT INTO conversation_labels (conversation_id, label_id, account_id)
SELECT c.id, p.off_labels + 1 + ((x.base + k) % p.n_labels), c.account_id
  FROM conv_plan c JOIN plan p ON p.account_id = c.account_id,
       LATERAL (SELECT floor(random() * 1000)::int AS base,
                       CASE WHEN r < 0.40 THEN 0 WHEN r < 0.75 THEN 1 WHEN r < 0.93 THEN 2 ELSE 3 END AS n
                  FROM (SELECT random() AS r WHERE c.id > 0) rr) x,
       LATERAL generate_series(0, least(x.n, p.n_labels) - 1) k
 ORDER BY 1, 2;
INSERT INTO custom_attribute_definitions (account_id, attribute_model, attribute_key, display_name, display_type,
                                          description, list_values, created_at)
SELECT p.account_id, 'conversation', 'plan', 'Plan', 'list', '', '["free", "pro", "enterprise"]'::jsonb,
       now() - interval '395 days'
  FROM plan p ORDER BY 1;
DROP TABLE conv_plan, conv_agg, conv_waiting;
DO $$
DECLARE t text; m bigint;
BEGIN
  FOREACH t IN ARRAY ARRAY['accounts','users','account_memberships','inboxes','inbox_members','labels','contacts',
                           'contact_inboxes','conversations','messages'] LOOP
    EXECUTE format('SELECT coalesce(max(id), 0) FROM %I', t) INTO m;
    PERFORM setval(pg_get_serial_sequence(t, 'id'), greatest(m, 1), m > 0);
  END LOOP;
END $$;
""",
        ),
        (
            "indexes and foreign keys back",
            """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT ddl FROM saved_ddl ORDER BY ord, ddl LOOP
    EXECUTE r.ddl;
  END LOOP;
END $$;
""",
        ),
    ]


async def seal_inbox_secrets(conn, settings) -> None:
    """Identity-verification secrets are stored encrypted with the server's key (as the services do)."""
    from domain import crypto
    from domain.helpdesk.inboxes import HMAC_TOKEN_CONTEXT

    rows = await conn.fetch("SELECT id, account_id FROM inboxes ORDER BY id")
    for row in rows:
        sealed = crypto.encrypt(f"hmac-{row['account_id']}-{row['id']}", settings, context=HMAC_TOKEN_CONTEXT)
        await conn.execute(
            "UPDATE inboxes SET hmac_token_encrypted = $1, hmac_token_key_id = $2 WHERE id = $3",
            sealed,
            sealed.split(":")[1],
            row["id"],
        )


async def create_tokens(conn, account_id: int = 1) -> dict[int, str]:
    """A personal API token for every member of the account, by user id (only their hashes are stored)."""
    from domain.accounts import tokens

    members = await conn.fetch(
        "SELECT user_id FROM account_memberships WHERE account_id = $1 ORDER BY user_id", account_id
    )
    out: dict[int, str] = {}
    for row in members:
        secret, secret_hash = tokens.new_secret(tokens.PREFIX_PERSONAL)
        await conn.execute(
            "INSERT INTO api_tokens (account_id, user_id, name, token_prefix, token_hash, created_by_id, created_at) "
            "VALUES ($1, $2, 'bench', $3, $4, $2, now())",
            account_id,
            row["user_id"],
            secret[:12],
            secret_hash,
        )
        out[row["user_id"]] = secret
    return out


def counts_sql() -> str:
    return """
SELECT json_build_object(
  'accounts', (SELECT count(*) FROM accounts), 'users', (SELECT count(*) FROM users),
  'contacts', (SELECT count(*) FROM contacts), 'conversations', (SELECT count(*) FROM conversations),
  'open (account 1)', (SELECT count(*) FROM conversations WHERE account_id = 1 AND status = 'open'),
  'messages', (SELECT count(*) FROM messages), 'labels', (SELECT count(*) FROM conversation_labels))::text"""


def parse_counts(text: str) -> dict[str, int]:
    return json.loads(text)
