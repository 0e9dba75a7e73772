"""A small Chatwoot installation for the importer's tests: the subset of Chatwoot's schema the
importer reads (table and column names, types and integer enums as `db/schema.rb` at v4.15.1 has
them, with its two display-id triggers) in a PostgreSQL database of its own, and an ActiveStorage
disk-service directory beside it.

Scale (fixed, deterministic): 2 accounts, 7 users made (one then deleted, one without email, one
unconfirmed), 5 inboxes (2 web widgets, an API channel, an email channel, a retired Twitter one),
52 contacts made (one then merged away), 100 conversations, 700 messages, 12 file attachments (2 of
them missing on disk), 40 taggings, 2 teams, 4 canned responses, 3 custom attribute definitions,
2 webhooks, 20 CSAT responses, 100 reporting events.

The awkward cases a real installation has:
- a deleted agent: `users` row gone, still the assignee of conversations and the sender of messages;
- a user without an email address (skipped: nobody could sign in as them);
- contacts without email (phone only, or anonymous widget visitors), one whose phone number does
  not fit Parley's column, and two whose emails differ only by case (Chatwoot's index is
  case-sensitive; Parley's is not);
- a merged contact: its row deleted (Chatwoot's merge), its messages still naming it as sender;
- a conversation without contact;
- attachments whose blob row exists but whose file is missing from storage;
- emoji, HTML and a script tag in messages; messages with no content (attachment only);
- a tagging whose tag has no label row, and a contact tagging (Parley labels conversations only).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import bcrypt

SCHEMA = """
CREATE TABLE accounts (
  id serial PRIMARY KEY, name varchar NOT NULL, created_at timestamp NOT NULL, updated_at timestamp NOT NULL,
  locale integer DEFAULT 0, domain varchar(100), support_email varchar(100), feature_flags bigint NOT NULL DEFAULT 0,
  auto_resolve_duration integer, limits jsonb DEFAULT '{}', custom_attributes jsonb DEFAULT '{}',
  status integer DEFAULT 0, internal_attributes jsonb NOT NULL DEFAULT '{}', settings jsonb DEFAULT '{}');
CREATE TABLE users (
  id serial PRIMARY KEY, provider varchar NOT NULL DEFAULT 'email', uid varchar NOT NULL DEFAULT '',
  encrypted_password varchar NOT NULL DEFAULT '', reset_password_token varchar, reset_password_sent_at timestamp,
  remember_created_at timestamp, sign_in_count integer NOT NULL DEFAULT 0, current_sign_in_at timestamp,
  last_sign_in_at timestamp, current_sign_in_ip varchar, last_sign_in_ip varchar, confirmation_token varchar,
  confirmed_at timestamp, confirmation_sent_at timestamp, unconfirmed_email varchar, name varchar NOT NULL,
  display_name varchar, email varchar, tokens json, created_at timestamp NOT NULL, updated_at timestamp NOT NULL,
  pubsub_token varchar, availability integer DEFAULT 0, ui_settings jsonb DEFAULT '{}',
  custom_attributes jsonb DEFAULT '{}', type varchar, message_signature text, otp_secret varchar,
  consumed_timestep integer, otp_required_for_login boolean DEFAULT false, otp_backup_codes text);
CREATE UNIQUE INDEX index_users_on_uid_and_provider ON users (uid, provider);
CREATE UNIQUE INDEX index_users_on_pubsub_token ON users (pubsub_token);
CREATE TABLE account_users (
  id bigserial PRIMARY KEY, account_id bigint, user_id bigint, role integer DEFAULT 0, inviter_id bigint,
  created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, active_at timestamp,
  availability integer NOT NULL DEFAULT 0, auto_offline boolean NOT NULL DEFAULT true, custom_role_id bigint,
  agent_capacity_policy_id bigint);
CREATE UNIQUE INDEX uniq_user_id_per_account_id ON account_users (account_id, user_id);
CREATE TABLE inboxes (
  id serial PRIMARY KEY, channel_id integer NOT NULL, account_id integer NOT NULL, name varchar NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL, channel_type varchar,
  enable_auto_assignment boolean DEFAULT true, greeting_enabled boolean DEFAULT false, greeting_message varchar,
  email_address varchar, working_hours_enabled boolean DEFAULT false, out_of_office_message varchar,
  timezone varchar DEFAULT 'UTC', enable_email_collect boolean DEFAULT true, csat_survey_enabled boolean DEFAULT false,
  allow_messages_after_resolved boolean DEFAULT true, auto_assignment_config jsonb DEFAULT '{}',
  lock_to_single_conversation boolean NOT NULL DEFAULT false, portal_id bigint,
  sender_name_type integer NOT NULL DEFAULT 0, business_name varchar, csat_config jsonb NOT NULL DEFAULT '{}');
CREATE TABLE inbox_members (
  id serial PRIMARY KEY, user_id integer NOT NULL, inbox_id integer NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL);
CREATE TABLE channel_web_widgets (
  id serial PRIMARY KEY, website_url varchar, account_id integer, created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL, website_token varchar, widget_color varchar DEFAULT '#1f93ff',
  welcome_title varchar, welcome_tagline varchar, feature_flags integer NOT NULL DEFAULT 7, reply_time integer DEFAULT 0,
  hmac_token varchar, pre_chat_form_enabled boolean DEFAULT false, pre_chat_form_options jsonb DEFAULT '{}',
  hmac_mandatory boolean DEFAULT false, continuity_via_email boolean NOT NULL DEFAULT true, allowed_domains text DEFAULT '');
CREATE UNIQUE INDEX index_channel_web_widgets_on_website_token ON channel_web_widgets (website_token);
CREATE UNIQUE INDEX index_channel_web_widgets_on_hmac_token ON channel_web_widgets (hmac_token);
CREATE TABLE channel_api (
  id bigserial PRIMARY KEY, account_id integer NOT NULL, webhook_url varchar, created_at timestamp(6) NOT NULL,
  updated_at timestamp(6) NOT NULL, identifier varchar, hmac_token varchar, hmac_mandatory boolean DEFAULT false,
  additional_attributes jsonb DEFAULT '{}', secret varchar);
CREATE TABLE channel_email (
  id serial PRIMARY KEY, account_id integer NOT NULL, email varchar NOT NULL, forward_to_email varchar NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL, imap_enabled boolean DEFAULT false,
  imap_address varchar DEFAULT '', imap_port integer DEFAULT 0, imap_login varchar DEFAULT '',
  imap_password varchar DEFAULT '', imap_enable_ssl boolean DEFAULT true, smtp_enabled boolean DEFAULT false,
  smtp_address varchar DEFAULT '', smtp_port integer DEFAULT 0, smtp_login varchar DEFAULT '',
  smtp_password varchar DEFAULT '', smtp_domain varchar DEFAULT '', provider varchar, provider_config jsonb DEFAULT '{}');
CREATE TABLE contacts (
  id serial PRIMARY KEY, name varchar DEFAULT '', email varchar, phone_number varchar, account_id integer NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL, additional_attributes jsonb DEFAULT '{}',
  identifier varchar, custom_attributes jsonb DEFAULT '{}', last_activity_at timestamp, contact_type integer DEFAULT 0,
  middle_name varchar DEFAULT '', last_name varchar DEFAULT '', location varchar DEFAULT '',
  country_code varchar DEFAULT '', blocked boolean NOT NULL DEFAULT false, company_id bigint);
CREATE UNIQUE INDEX uniq_email_per_account_contact ON contacts (email, account_id);
CREATE UNIQUE INDEX uniq_identifier_per_account_contact ON contacts (identifier, account_id);
CREATE TABLE contact_inboxes (
  id bigserial PRIMARY KEY, contact_id bigint, inbox_id bigint, source_id text NOT NULL,
  created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, hmac_verified boolean DEFAULT false,
  pubsub_token varchar);
CREATE UNIQUE INDEX index_contact_inboxes_on_inbox_id_and_source_id ON contact_inboxes (inbox_id, source_id);
CREATE TABLE conversations (
  id serial PRIMARY KEY, account_id integer NOT NULL, inbox_id integer NOT NULL, status integer NOT NULL DEFAULT 0,
  assignee_id integer, created_at timestamp NOT NULL, updated_at timestamp NOT NULL, contact_id bigint,
  display_id integer NOT NULL, contact_last_seen_at timestamp, agent_last_seen_at timestamp,
  additional_attributes jsonb DEFAULT '{}', contact_inbox_id bigint, uuid uuid NOT NULL DEFAULT gen_random_uuid(),
  identifier varchar, last_activity_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, team_id bigint,
  campaign_id bigint, snoozed_until timestamp, custom_attributes jsonb DEFAULT '{}', assignee_last_seen_at timestamp,
  first_reply_created_at timestamp, priority integer, sla_policy_id bigint, waiting_since timestamp(6),
  cached_label_list text, assignee_agent_bot_id bigint);
CREATE UNIQUE INDEX index_conversations_on_account_id_and_display_id ON conversations (account_id, display_id);
CREATE TABLE messages (
  id serial PRIMARY KEY, content text, account_id integer NOT NULL, inbox_id integer NOT NULL,
  conversation_id integer NOT NULL, message_type integer NOT NULL, created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL, private boolean NOT NULL DEFAULT false, status integer DEFAULT 0, source_id text,
  content_type integer NOT NULL DEFAULT 0, content_attributes json DEFAULT '{}', sender_type varchar,
  sender_id bigint, external_source_ids jsonb DEFAULT '{}', additional_attributes jsonb DEFAULT '{}',
  processed_message_content text, sentiment jsonb DEFAULT '{}');
CREATE INDEX index_messages_on_updated_at ON messages (updated_at);
CREATE TABLE attachments (
  id serial PRIMARY KEY, file_type integer DEFAULT 0, external_url varchar, coordinates_lat double precision DEFAULT 0.0,
  coordinates_long double precision DEFAULT 0.0, message_id integer NOT NULL, account_id integer NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL, fallback_title varchar, extension varchar,
  meta jsonb DEFAULT '{}');
CREATE TABLE active_storage_blobs (
  id bigserial PRIMARY KEY, key varchar NOT NULL, filename varchar NOT NULL, content_type varchar, metadata text,
  byte_size bigint NOT NULL, checksum varchar, created_at timestamp NOT NULL, service_name varchar NOT NULL);
CREATE TABLE active_storage_attachments (
  id bigserial PRIMARY KEY, name varchar NOT NULL, record_type varchar NOT NULL, record_id bigint NOT NULL,
  blob_id bigint NOT NULL, created_at timestamp NOT NULL);
CREATE TABLE labels (
  id bigserial PRIMARY KEY, title varchar, description text, color varchar NOT NULL DEFAULT '#1f93ff',
  show_on_sidebar boolean, account_id bigint, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
CREATE UNIQUE INDEX index_labels_on_title_and_account_id ON labels (title, account_id);
CREATE TABLE tags (id serial PRIMARY KEY, name varchar, taggings_count integer DEFAULT 0);
CREATE UNIQUE INDEX index_tags_on_name ON tags (name);
CREATE TABLE taggings (
  id serial PRIMARY KEY, tag_id integer, taggable_type varchar, taggable_id integer, tagger_type varchar,
  tagger_id integer, context varchar(128), created_at timestamp);
CREATE TABLE teams (
  id bigserial PRIMARY KEY, name varchar NOT NULL, description text, allow_auto_assign boolean DEFAULT true,
  account_id bigint NOT NULL, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
CREATE TABLE team_members (
  id bigserial PRIMARY KEY, team_id bigint NOT NULL, user_id bigint NOT NULL, created_at timestamp(6) NOT NULL,
  updated_at timestamp(6) NOT NULL);
CREATE TABLE canned_responses (
  id serial PRIMARY KEY, account_id integer NOT NULL, short_code varchar, content text,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL);
CREATE TABLE custom_attribute_definitions (
  id bigserial PRIMARY KEY, attribute_display_name varchar, attribute_key varchar,
  attribute_display_type integer DEFAULT 0, default_value integer, attribute_model integer DEFAULT 0,
  account_id bigint, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, attribute_description text,
  attribute_values jsonb DEFAULT '[]', regex_pattern varchar, regex_cue varchar);
CREATE TABLE webhooks (
  id bigserial PRIMARY KEY, account_id integer, inbox_id integer, url varchar, created_at timestamp(6) NOT NULL,
  updated_at timestamp(6) NOT NULL, webhook_type integer DEFAULT 0,
  subscriptions jsonb DEFAULT '["conversation_status_changed", "conversation_updated", "conversation_created", "message_created", "message_updated", "webwidget_triggered"]',
  name varchar);
CREATE TABLE csat_survey_responses (
  id bigserial PRIMARY KEY, account_id bigint NOT NULL, conversation_id bigint NOT NULL, message_id bigint NOT NULL,
  rating integer NOT NULL, feedback_message text, contact_id bigint NOT NULL, assigned_agent_id bigint,
  created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
CREATE TABLE reporting_events (
  id bigserial PRIMARY KEY, name varchar, value double precision, account_id integer, inbox_id integer,
  user_id integer, conversation_id integer, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL,
  value_in_business_hours double precision, event_start_time timestamp, event_end_time timestamp);

CREATE FUNCTION accounts_after_insert_row_tr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('create sequence IF NOT EXISTS conv_dpid_seq_%s', NEW.id); RETURN NULL; END $$;
CREATE TRIGGER accounts_after_insert_row_tr AFTER INSERT ON accounts FOR EACH ROW
  EXECUTE FUNCTION accounts_after_insert_row_tr();
CREATE FUNCTION conversations_before_insert_row_tr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.display_id IS NULL THEN NEW.display_id := nextval('conv_dpid_seq_' || NEW.account_id); END IF;
RETURN NEW; END $$;
CREATE TRIGGER conversations_before_insert_row_tr BEFORE INSERT ON conversations FOR EACH ROW
  EXECUTE FUNCTION conversations_before_insert_row_tr();
"""

AGENT_EMAIL = "maya@acme.example"
AGENT_PASSWORD = "chatwoot-Password-1"  # what the agent typed in Chatwoot
WEBSITE_TOKEN = "tYcvjN8fS3fHPnFzjT1f5KfD"  # Acme's embedded widget
WIDGET_HMAC = "hmac-acme-0123456789abcdef"
WIDGET_DOMAIN = "shop.acme.example"
DELETED_USER_ID = 6
MERGED_CONTACT_ID = 7  # merged into contact 3
MISSING_FILES = 2

BASE_TIME = datetime(2025, 3, 1, 9, 0, 0)
# Still ahead: a snooze that lapsed is woken by Parley's scheduler (with an activity message and its
# events), as Chatwoot's own job would have done. Snoozes without end ("until the next reply") are null.
SNOOZED_UNTIL = datetime(2099, 1, 1)


@dataclass
class ChatwootFixture:
    url: str  # postgresql://… (plain libpq form, as an operator passes it)
    storage_dir: Path  # ActiveStorage's disk service root
    counts: dict[str, int] = field(default_factory=dict)  # rows per source table


def fixture_url(parley_test_url: str) -> str:
    """The fixture's database: the Parley test database's name with `_chatwoot`, plain postgresql://."""
    parts = urlsplit(parley_test_url)
    return urlunsplit(parts._replace(scheme="postgresql", path=parts.path + "_chatwoot"))


async def _recreate(url: str) -> None:
    parts = urlsplit(url)
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        name = parts.path.lstrip("/")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def _disk_path(root: Path, key: str) -> Path:
    return root / key[0:2] / key[2:4] / key  # ActiveStorage::Service::DiskService#path_for


async def create_chatwoot(url: str, storage_dir: Path) -> ChatwootFixture:
    await _recreate(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SCHEMA)
        await _fill(conn, storage_dir)
        counts = {}
        for table in (
            "accounts users account_users inboxes inbox_members channel_web_widgets channel_api channel_email "
            "contacts contact_inboxes conversations messages attachments active_storage_blobs "
            "active_storage_attachments labels tags taggings teams team_members canned_responses "
            "custom_attribute_definitions webhooks csat_survey_responses reporting_events"
        ).split():
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await conn.close()
    return ChatwootFixture(url, storage_dir, counts)


def _t(minutes: float) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes)


async def _fill(conn: asyncpg.Connection, storage: Path) -> None:
    rnd = random.Random(22)
    now = _t(0)
    await conn.executemany(
        "INSERT INTO accounts (name, created_at, updated_at, locale, support_email) VALUES ($1, $2, $2, 0, $3)",
        [("Acme", now, "help@acme.example"), ("Globex 🌐", now, None)],
    )

    def pw(secret: str) -> str:
        # Devise writes "$2a$" hashes (cost 11 by default; 4 here, for speed).
        return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()

    users = [
        # id, name, email, password, confirmed
        (1, "Ada Admin", "ada@acme.example", "ada-password-1", True),
        (2, "Maya Agent", AGENT_EMAIL, AGENT_PASSWORD, True),
        (3, "Ben Agent", "ben@acme.example", "ben-password-1", True),
        (4, "Gia Globex", "gia@globex.example", "gia-password-1", True),
        (5, "No Email", None, "nobody-password", True),
        (6, "Deleted Dan", "dan@acme.example", "dan-password-1", True),
        (7, "Unconfirmed Una", "una@acme.example", "una-password-1", False),
    ]
    await conn.executemany(
        """INSERT INTO users (id, uid, encrypted_password, name, display_name, email, created_at, updated_at,
        confirmed_at, availability, pubsub_token) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)""",
        [
            (
                uid,
                email or f"uid-{uid}",
                pw(secret),
                name,
                name.split()[0],
                email,
                now,
                now if ok else None,
                uid % 3,
                f"pubsub-{uid}",
            )
            for uid, name, email, secret, ok in users
        ],
    )
    await conn.execute("SELECT setval('users_id_seq', 7)")
    # roles: 0 agent, 1 administrator
    await conn.executemany(
        "INSERT INTO account_users (account_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        [
            (1, 1, 1, now),
            (1, 2, 0, now),
            (1, 3, 0, now),
            (1, 7, 0, now),
            (2, 4, 1, now),
            (2, 2, 0, now),
            (1, 5, 0, now),
        ],
    )
    await conn.execute(f"DELETE FROM users WHERE id = {DELETED_USER_ID}")  # Chatwoot deletes the user row

    await conn.executemany(
        """INSERT INTO channel_web_widgets (account_id, created_at, updated_at, website_url, website_token, hmac_token,
        widget_color, welcome_title, welcome_tagline, hmac_mandatory, allowed_domains) VALUES
        ($1, $2, $2, $3, $4, $5, $6, $7, $8, false, $9)""",
        [
            (
                1,
                now,
                "https://shop.acme.example",
                WEBSITE_TOKEN,
                WIDGET_HMAC,
                "#ff6600",
                "Hi there 👋",
                "We reply <b>fast</b>",
                f"{WIDGET_DOMAIN},\n*.acme.example",
            ),
            (2, now, "https://globex.example", "gLoBeXwIdGeTtOkEn000001", "hmac-globex-1", "#1f93ff", "Globex", "", ""),
        ],
    )
    await conn.execute(
        """INSERT INTO channel_api (account_id, created_at, updated_at, webhook_url, identifier, hmac_token)
        VALUES (1, $1, $1, 'https://crm.acme.example/hook', 'api-ident-acme-1', 'hmac-api-acme')""",
        now,
    )
    await conn.execute(
        """INSERT INTO channel_email (account_id, email, forward_to_email, created_at, updated_at)
        VALUES (1, 'support@acme.example', 'fwd-abc@reply.chatwoot.example', $1, $1)""",
        now,
    )
    await conn.executemany(
        """INSERT INTO inboxes (channel_id, account_id, name, created_at, updated_at, channel_type, greeting_enabled,
        greeting_message, timezone) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)""",
        [
            (1, 1, "Acme website", now, "Channel::WebWidget", True, "Hello! 😀", "Europe/Paris"),
            (1, 1, "Acme API", now, "Channel::Api", False, None, "UTC"),
            (1, 1, "Acme support email", now, "Channel::Email", False, None, "UTC"),
            (2, 2, "Globex website", now, "Channel::WebWidget", False, None, "UTC"),
            (2, 1, "Acme Twitter (retired)", now, "Channel::TwitterProfile", False, None, "UTC"),
        ],
    )
    await conn.executemany(
        "INSERT INTO inbox_members (user_id, inbox_id, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        [(2, 1, now), (3, 1, now), (3, 3, now), (4, 4, now), (2, 4, now)],
    )
    await conn.executemany(
        "INSERT INTO teams (name, description, account_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        [("Billing", "Money matters", 1, now), ("Support", "", 2, now)],
    )
    await conn.executemany(
        "INSERT INTO team_members (team_id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        [(1, 2, now), (1, 3, now), (2, 4, now)],
    )
    await conn.executemany(
        """INSERT INTO labels (title, description, color, show_on_sidebar, account_id, created_at, updated_at)
        VALUES ($1, $2, $3, true, $4, $5, $5)""",
        [
            ("billing", "", "#00aa00", 1, now),
            ("bug", "Broken things", "#ff0000", 1, now),
            ("vip", "", "#aa00aa", 1, now),
            ("billing", "", "#1f93ff", 2, now),
        ],
    )

    # Contacts: 40 in Acme (1..40), 12 in Globex (41..52).
    contacts = []
    for cid in range(1, 53):
        account = 1 if cid <= 40 else 2
        email: str | None = f"customer{cid}@mail.example"
        phone: str | None = None
        name = f"Customer {cid}"
        if cid % 5 == 0:
            email, phone = None, f"+4930{cid:07d}"  # phone only
        if cid % 9 == 0:
            email, name = None, ""  # an anonymous widget visitor
        if cid == 11:
            phone = "+1 (555) 010-9999 ext. 12345"  # longer than Parley's column
        if cid == 12:
            email = "Dup@Mail.example"
        if cid == 13:
            email = "dup@mail.example"  # same address as contact 12, whatever the case
        if cid == 14:
            name = "Zoë 🦄 <b>Bold</b>"
        contacts.append(
            (
                cid,
                name,
                email,
                phone,
                account,
                _t(cid),
                json.dumps({"city": "Paris"} if cid % 4 == 0 else {}),
                f"ext-{cid}" if cid % 6 == 0 else None,
                rnd.choice([0, 1, 2]),
            )
        )
    await conn.executemany(
        """INSERT INTO contacts (id, name, email, phone_number, account_id, created_at, updated_at,
        additional_attributes, identifier, contact_type) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)""",
        contacts,
    )
    await conn.execute("SELECT setval('contacts_id_seq', 52)")

    inbox_of_account = {1: [1, 2, 3], 2: [4]}
    contact_inboxes = []
    for cid in range(1, 53):
        account = 1 if cid <= 40 else 2
        inbox = inbox_of_account[account][cid % len(inbox_of_account[account])]
        contact_inboxes.append((cid, inbox, f"src-{cid}-{inbox}", _t(cid)))
    await conn.executemany(
        """INSERT INTO contact_inboxes (contact_id, inbox_id, source_id, created_at, updated_at, pubsub_token)
        VALUES ($1, $2, $3, $4, $4, 'ps-' || $3)""",
        contact_inboxes,
    )

    # Conversations: 80 in Acme, 20 in Globex; display ids by Chatwoot's trigger.
    convs = []
    for n in range(100):
        account = 1 if n < 80 else 2
        cid = (n % 40) + 1 if account == 1 else 41 + (n % 12)
        ci = cid  # contact_inboxes ids follow contacts
        inbox = contact_inboxes[cid - 1][1]
        assignee = [1, 2, 3, DELETED_USER_ID, None][n % 5] if account == 1 else [4, 2, None][n % 3]
        team = 1 if account == 1 and n % 4 == 0 else (2 if account == 2 and n % 2 else None)
        status = n % 4  # 0 open, 1 resolved, 2 pending, 3 snoozed
        contact_id: int | None = cid
        if n == 17:
            contact_id = None  # a conversation whose contact is gone
        convs.append(
            (
                account,
                inbox,
                status,
                assignee,
                _t(100 + n),
                contact_id,
                ci,
                team,
                [None, 0, 1, 2, 3][n % 5],
                SNOOZED_UNTIL + timedelta(minutes=n) if status == 3 and n % 8 == 3 else None,
            )
        )
    await conn.executemany(
        """INSERT INTO conversations (account_id, inbox_id, status, assignee_id, created_at, updated_at, contact_id,
        contact_inbox_id, team_id, priority, snoozed_until, last_activity_at)
        VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $5)""",
        convs,
    )
    conv_rows = await conn.fetch(
        "SELECT id, account_id, inbox_id, contact_id, assignee_id FROM conversations ORDER BY id"
    )

    contents = [
        "Hello, my order #{n} has not arrived 📦",
        "<p>Thanks!<br>We <b>refunded</b> you &amp; more</p>",
        "<script>alert('x')</script> still there?",
        "(activity: written below)",
        "Ça marche — merci 🙏🏽 👨‍👩‍👧\nnew lines\n\n-- \nsignature",
        "Resolved by agent",
        None,  # attachment only
    ]
    messages = []
    for conv in conv_rows:
        for k in range(7):
            cid, n = conv["id"], conv["id"] * 7 + k
            if k == 3:
                mtype, sender_type, sender_id, private = 2, None, None, False  # activity
                content = "Conversation was marked resolved by Ada"
            elif k % 2 == 0:
                mtype, sender_type, private = 0, "Contact", False
                sender_id = conv["contact_id"]
                if conv["contact_id"] == 3 and k == 4:
                    sender_id = MERGED_CONTACT_ID  # written before contact 7 was merged into 3
                content = contents[k].format(n=n) if contents[k] else None
            else:
                mtype, sender_type, private = 1, "User", k == 5
                sender_id = conv["assignee_id"] or 1
                content = contents[k] if contents[k] else None
                if private:
                    content = "Private note: check the refund 🔒"
            attrs = {"in_reply_to": None} if k == 1 else {}
            if k == 2 and conv["inbox_id"] == 3:
                attrs = {"email": {"html_content": {"full": "<div>Hi</div>"}, "subject": "Order"}}
            messages.append(
                (
                    content,
                    conv["account_id"],
                    conv["inbox_id"],
                    cid,
                    mtype,
                    _t(300 + n),
                    private,
                    sender_type,
                    sender_id,
                    json.dumps(attrs),
                    f"msg-src-{n}" if k == 0 else None,
                )
            )
    await conn.executemany(
        """INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type, created_at, updated_at,
        private, sender_type, sender_id, content_attributes, source_id)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)""",
        messages,
    )
    # Contact 7 is merged into contact 3: Chatwoot moves its conversations and deletes the row.
    await conn.execute(f"DELETE FROM contacts WHERE id = {MERGED_CONTACT_ID}")
    await conn.execute(f"UPDATE contact_inboxes SET contact_id = 3 WHERE contact_id = {MERGED_CONTACT_ID}")
    await conn.execute(f"UPDATE conversations SET contact_id = 3 WHERE contact_id = {MERGED_CONTACT_ID}")

    # Attachments on attachment-only messages (content NULL): 12, two of whose files are missing.
    bare = await conn.fetch("SELECT id, account_id FROM messages WHERE content IS NULL ORDER BY id LIMIT 12")
    for i, msg in enumerate(bare):
        body = f"file {i} of the fixture 📎\n".encode() * (i + 1)
        key = hashlib.sha1(f"blob-{i}".encode()).hexdigest()[:28]
        kind = i % 3  # 0 image, 3 file
        name, ctype, ftype = (
            (f"photo-{i}.png", "image/png", 0) if kind == 0 else (f"invoice {i} – été.pdf", "application/pdf", 3)
        )
        if kind == 0:
            body = b"\x89PNG\r\n\x1a\n" + body
        if i >= MISSING_FILES:
            path = _disk_path(storage, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        checksum = base64.b64encode(hashlib.md5(body).digest()).decode()
        blob_id = await conn.fetchval(
            """INSERT INTO active_storage_blobs (key, filename, content_type, metadata, byte_size, checksum, created_at,
            service_name) VALUES ($1, $2, $3, '{"identified":true}', $4, $5, $6, 'local') RETURNING id""",
            key,
            name,
            ctype,
            len(body),
            checksum,
            now,
        )
        att_id = await conn.fetchval(
            """INSERT INTO attachments (file_type, message_id, account_id, created_at, updated_at, extension)
            VALUES ($1, $2, $3, $4, $4, $5) RETURNING id""",
            ftype,
            msg["id"],
            msg["account_id"],
            now,
            name.rsplit(".", 1)[-1],
        )
        await conn.execute(
            """INSERT INTO active_storage_attachments (name, record_type, record_id, blob_id, created_at)
            VALUES ('file', 'Attachment', $1, $2, $3)""",
            att_id,
            blob_id,
            now,
        )

    # acts_as_taggable: tags are global names; taggings join them to conversations (context 'labels').
    await conn.executemany(
        "INSERT INTO tags (name, taggings_count) VALUES ($1, 0)", [("billing",), ("bug",), ("vip",), ("legacy-tag",)]
    )
    taggings = []
    for conv in conv_rows[:38]:
        taggings.append((1 + conv["id"] % 3, "Conversation", conv["id"], "labels", now))
    taggings.append((4, "Conversation", conv_rows[0]["id"], "labels", now))  # no label row titled legacy-tag
    taggings.append((3, "Contact", 1, "labels", now))  # a contact label
    await conn.executemany(
        """INSERT INTO taggings (tag_id, taggable_type, taggable_id, context, created_at)
        VALUES ($1, $2, $3, $4, $5)""",
        taggings,
    )
    await conn.executemany(
        """INSERT INTO canned_responses (account_id, short_code, content, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)""",
        [
            (1, "thanks", "Thank you! 🙏", now),
            (1, "refund", "<p>Your refund is on its way.</p>", now),
            (1, "hours", "We are open 9–17.", now),
            (2, "hi", "Hello from Globex", now),
        ],
    )
    # attribute_display_type: 0 text 1 number 2 currency 3 percent 4 link 5 date 6 list 7 checkbox;
    # attribute_model: 0 conversation_attribute, 1 contact_attribute.
    await conn.executemany(
        """INSERT INTO custom_attribute_definitions (attribute_display_name, attribute_key, attribute_display_type,
        attribute_model, account_id, created_at, updated_at, attribute_description, attribute_values)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)""",
        [
            ("Order number", "order_number", 1, 0, 1, now, "The order", "[]"),
            ("Plan", "plan", 6, 1, 1, now, "", json.dumps(["free", "pro", "enterprise"])),
            ("Signed up", "signed_up", 5, 1, 2, now, "", "[]"),
        ],
    )
    await conn.executemany(
        """INSERT INTO webhooks (account_id, inbox_id, url, created_at, updated_at, webhook_type, subscriptions, name)
        VALUES ($1, $2, $3, $4, $4, $5, $6, $7)""",
        [
            (
                1,
                None,
                "https://hooks.acme.example/chatwoot",
                now,
                0,
                json.dumps(["message_created", "conversation_created"]),
                "CRM",
            ),
            (1, 1, "https://hooks.acme.example/widget", now, 1, json.dumps(["webwidget_triggered"]), None),
        ],
    )
    resolved = [c for c in conv_rows if c["contact_id"] is not None][:20]
    await conn.executemany(
        """INSERT INTO csat_survey_responses (account_id, conversation_id, message_id, rating, feedback_message,
        contact_id, assigned_agent_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)""",
        [
            (
                c["account_id"],
                c["id"],
                c["id"] * 7,
                1 + i % 5,
                ["", "Great 👍", "<i>slow</i>"][i % 3],
                c["contact_id"],
                c["assignee_id"],
                _t(400 + i),
            )
            for i, c in enumerate(resolved)
        ],
    )
    await conn.executemany(
        """INSERT INTO reporting_events (name, value, account_id, inbox_id, user_id, conversation_id, created_at,
        updated_at, value_in_business_hours, event_start_time, event_end_time)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $7)""",
        [
            (
                ["first_response", "conversation_resolved"][i % 2],
                60.0 * (i + 1),
                c["account_id"],
                c["inbox_id"],
                c["assignee_id"],
                c["id"],
                _t(500 + i),
                30.0 * (i + 1),
                _t(100 + i),
            )
            for i, c in enumerate(conv_rows)
        ],
    )
