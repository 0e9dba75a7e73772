"""The demo account that `parley serve --demo` and `parley seed-demo` create on a fresh install."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select

from db.models import Account, AccountMembership, User
from db.session import create_engine, create_session_factory
from domain.accounts.passwords import hash_password
from domain.enums import Role
from infra.settings import Environment, Settings

DEMO_ACCOUNT = "Acme Support (demo)"
DEMO_USERS = [
    ("Ada Admin", "admin@demo.parley.test", Role.ADMINISTRATOR),
    ("Alan Agent", "alan@demo.parley.test", Role.AGENT),
    ("Grace Agent", "grace@demo.parley.test", Role.AGENT),
]


@dataclass
class DemoLogin:
    name: str
    email: str
    role: str
    password: str


def _credentials_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "demo-credentials.json"


async def seed_demo(settings: Settings) -> list[DemoLogin]:
    """Create the demo account once; later calls return the logins saved the first time."""
    if settings.env == Environment.production:
        raise RuntimeError("the demo account is not created in production")
    path = _credentials_file(settings)
    engine = create_engine(settings.effective_database_url, pool_size=1, max_overflow=0)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            existing = await session.scalar(select(Account).where(Account.name == DEMO_ACCOUNT))
            if existing is not None and path.exists():
                return [DemoLogin(**d) for d in json.loads(path.read_text())]
            account = existing or Account(name=DEMO_ACCOUNT, locale="en", timezone="Europe/Berlin", settings={})
            session.add(account)
            await session.flush()
            logins = []
            for name, email, role in DEMO_USERS:
                password = secrets.token_urlsafe(12)
                user = await session.scalar(select(User).where(func.lower(User.email) == email))
                if user is None:
                    user = User(name=name, email=email)
                    session.add(user)
                user.password_hash = await hash_password(password)
                await session.flush()
                membership = await session.scalar(
                    select(AccountMembership).where(
                        AccountMembership.account_id == account.id, AccountMembership.user_id == user.id
                    )
                )
                if membership is None:
                    session.add(AccountMembership(account_id=account.id, user_id=user.id, role=role))
                    await session.flush()  # the helpdesk below reads the memberships back
                logins.append(DemoLogin(name=name, email=email, role=role.value, password=password))
            if existing is None:
                await _seed_helpdesk(session, account.id, settings)
            from domain import events

            await events.finalize(session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(x) for x in logins], indent=2))
        path.chmod(0o600)
        return logins
    finally:
        await engine.dispose()


DEMO_CONTACTS = [
    ("Carla Customer", "carla@example.test"),
    ("Dan Developer", "dan@example.test"),
    ("Erin Enterprise", "erin@example.test"),
    ("Frank Freelancer", "frank@example.test"),
    ("Gina Gardener", "gina@example.test"),
    ("Hugo Hobbyist", "hugo@example.test"),
    ("Ines Importer", "ines@example.test"),
    ("Jonas Jeweller", "jonas@example.test"),
    ("Kira Keeper", "kira@example.test"),
    ("Liam Librarian", "liam@example.test"),
    ("Mona Maker", "mona@example.test"),
    ("Nils Navigator", "nils@example.test"),
]
# (first message, labels, the agent's reply, the contact's follow-up or None)
DEMO_TOPICS = [
    (
        "My parcel #4711 has not arrived yet.",
        ["shipping"],
        "Sorry about that! The carrier shows it in transit, it should arrive tomorrow.",
        "Thanks, I will wait until then.",
    ),
    (
        "Your API returns 429 for me, what are the limits?",
        ["bug"],
        "The default is 60 requests a minute per token; the Retry-After header tells you when to try again.",
        None,
    ),
    (
        "We would like a quote for 50 seats.",
        ["sales"],
        "Happy to help: I have sent you our volume pricing.",
        "Great, can we also get an annual invoice?",
    ),
    (
        "How do I change my invoice address?",
        ["billing"],
        "Under Settings, Billing you can edit it; the next invoice uses it.",
        None,
    ),
    (
        "The widget does not load on my site.",
        ["bug"],
        "Is your site's domain in the inbox's allowed domains?",
        "That was it, it works now!",
    ),
    ("I was charged twice this month.", ["billing", "urgent"], "I am sorry, I have refunded the second charge.", None),
    (
        "Do you offer a discount for non-profits?",
        ["sales"],
        "Yes, 30 %. Send us your registration and we set it up.",
        None,
    ),
    ("Can I export all my conversations?", [], "Reports, Export gives you a CSV of every conversation.", None),
    (
        "The login page shows an error since this morning.",
        ["bug", "urgent"],
        "Thanks for the report, a fix is live now.",
        "Confirmed, I can log in again.",
    ),
    (
        "Where can I download last year's invoices?",
        ["billing"],
        "All invoices are under Settings, Billing, History.",
        None,
    ),
    (
        "Is there a German version of the help center?",
        ["feedback"],
        "Not yet, but it is planned for next quarter.",
        None,
    ),
    ("I love the new dashboard, thank you!", ["feedback"], "Thank you, we will pass it on to the team!", None),
]
PRIVATE_NOTES = [
    "Checked the logs: nothing unusual on our side.",
    "Customer since 2019, please keep them happy.",
    "Escalated to engineering, ticket ENG-142.",
    "Refund approved by finance.",
]
DEMO_CONVERSATIONS = 36
DEMO_DAYS = 28


async def _seed_helpdesk(session, account_id: int, settings: Settings) -> None:
    """Inboxes on all three channels with their members, labels, contacts, and four weeks of
    conversations. Each step goes through the domain service the API uses, with the clock set to
    when it happened (db.base.replayed_clock), and the reporting consumer records the events, so the
    event log, the conversations and the reports tell the same story."""
    import random
    from datetime import UTC, datetime, timedelta

    from db.base import replayed_clock
    from db.models import ContactInbox, Conversation, Inbox
    from domain import events
    from domain.accounts.actor import Actor, ActorKind, effective_permissions
    from domain.audit import RequestMeta
    from domain.catalog.labels import create_label
    from domain.enums import ChannelType, ConversationStatus, MessageType
    from domain.helpdesk import contacts, conversations, inboxes, opening
    from domain.reports import recorder
    from domain.widget import conversations as visitor_conversations
    from domain.widget import sessions as contact_sessions

    users = {
        u.email: u
        for u in (
            await session.scalars(
                select(User)
                .join(AccountMembership, AccountMembership.user_id == User.id)
                .where(AccountMembership.account_id == account_id)
            )
        ).all()
    }
    admin, alan, grace = (users[email] for _, email, _ in DEMO_USERS)

    def actor_of(user: User, role: Role) -> Actor:
        return Actor(
            kind=ActorKind.user,
            user_id=user.id,
            account_id=account_id,
            role=role,
            permissions=effective_permissions(role, None),
            label=user.email,
        )

    actors = {
        admin.id: actor_of(admin, Role.ADMINISTRATOR),
        alan.id: actor_of(alan, Role.AGENT),
        grace.id: actor_of(grace, Role.AGENT),
    }
    actor = actors[admin.id]
    meta = RequestMeta(ip="127.0.0.1", user_agent="parley seed-demo")
    now = datetime.now(UTC)
    rng = random.Random(4711)  # the same demo on every install

    async def step(at: datetime, work):
        at = min(at, now)  # the newest conversations' replies would otherwise lie in the future
        with replayed_clock(at):
            result = await work()
        # Events are numbered and written once, at the end (one outbox job per consumer, as for one
        # big request); each keeps the time it happened.
        for event in events.pending(session).events:
            if event.created_at is None:
                event.created_at = at
        return result

    async def setup():
        api = await inboxes.create_inbox(
            session,
            actor,
            name="Support API",
            channel_type=ChannelType.API,
            config={},
            settings={},
            meta=meta,
            app_settings=settings,
        )
        web = await inboxes.create_inbox(
            session,
            actor,
            name="Website",
            channel_type=ChannelType.WEB_WIDGET,
            config={"welcomeTitle": "Hi there!", "welcomeTagline": "Ask us anything about orders, billing or the API."},
            settings={},
            meta=meta,
            app_settings=settings,
        )
        mail = await inboxes.create_inbox(
            session,
            actor,
            name="Email",
            channel_type=ChannelType.EMAIL,
            config={"email": "support@demo.parley.test"},
            settings={},
            meta=meta,
            app_settings=settings,
        )
        # Everyone answers the API inbox and the website chat; Grace and Ada also take the email.
        await inboxes.set_inbox_members(session, actor, api.id, [admin.id, alan.id, grace.id], meta)
        await inboxes.set_inbox_members(session, actor, web.id, [admin.id, alan.id, grace.id], meta)
        await inboxes.set_inbox_members(session, actor, mail.id, [admin.id, grace.id], meta)
        for title, color in (
            ("billing", "#f59e0b"),
            ("bug", "#ef4444"),
            ("sales", "#10b981"),
            ("shipping", "#3b82f6"),
            ("feedback", "#8b5cf6"),
            ("urgent", "#dc2626"),
        ):
            await create_label(
                session, actor, title=title, description="", color=color, show_on_sidebar=True, meta=meta
            )
        people = [await contacts.create_contact(session, actor, {"name": n, "email": e}) for n, e in DEMO_CONTACTS]
        return api, web, mail, people

    api, web, mail, people = await step(now - timedelta(days=DEMO_DAYS + 1), setup)
    agents_of = {api.id: [alan, grace, admin], web.id: [alan, grace], mail.id: [grace, admin]}
    channels = [api, web, mail]
    # Spread over the weeks, and a few from the last day that are still being worked on.
    ages = sorted((rng.uniform(1.5, DEMO_DAYS) for _ in range(DEMO_CONVERSATIONS - 6)), reverse=True)
    ages += [1.2, 0.8, 0.5, 0.3, 0.15, 0.05]

    async def contact_writes(conversation_id: int, text: str) -> None:
        # What an arriving email (or an API client's incoming message) does to the conversation.
        conv = await session.get(Conversation, conversation_id)
        await conversations.add_message(
            session,
            actor,
            conv,
            await session.get(Inbox, conv.inbox_id),
            content=text,
            private=False,
            message_type=MessageType.INCOMING,
            content_attributes={},
        )

    for n, age in enumerate(ages):
        inbox = channels[n % 3]
        text, labels, reply, follow_up = DEMO_TOPICS[n % len(DEMO_TOPICS)]
        contact = people[n % len(people)]
        t = now - timedelta(days=age)

        async def open_conversation(inbox=inbox, contact=contact, text=text) -> int:
            if inbox.channel_type == ChannelType.WEB_WIDGET:
                # A visitor on the website: the widget starts a contact session and writes.
                started = await contact_sessions.start_session(
                    session,
                    secret_key=settings.secret_key,
                    app_settings=settings,
                    ttl=timedelta(days=1),
                    website_token=inbox.website_token,
                    session_token=None,
                    identifier=None,
                    identifier_hash_=None,
                    name=contact.name,
                    email=None,
                )
                visitor = contact_sessions.session_actor(started.contact_inbox, inbox)
                conv, _, _ = await visitor_conversations.create_message(session, visitor, None, text, max_chars=10_000)
                return conv.id
            conv = await opening.create_conversation(
                session, actor, inbox_id=inbox.id, contact_id=contact.id, content=None
            )
            await contact_writes(conv.id, text)
            return conv.id

        cid = await step(t, open_conversation)
        recent = age < 1.5
        if recent and n % 2 == 0:
            continue  # nobody has picked it up yet: open and unassigned
        team = agents_of[inbox.id]
        agent = team[n % len(team)]
        agent_actor = actors[agent.id]
        t += timedelta(minutes=rng.uniform(1, 20))

        async def assign_and_label(cid=cid, agent=agent, labels=labels) -> None:
            await conversations.assign(
                session, actor, cid, assignee_id=agent.id, set_assignee=True, team_id=None, set_team=False
            )
            if labels:
                await conversations.update_labels(session, actor, cid, add=labels, remove=[], replace=False)

        await step(t, assign_and_label)
        t += timedelta(minutes=rng.uniform(2, 180))
        await step(
            t,
            lambda cid=cid, reply=reply, a=agent_actor: conversations.create_message(
                session, a, cid, content=reply, private=False, message_type=MessageType.OUTGOING
            ),
        )
        if n % 4 == 1:
            note = PRIVATE_NOTES[n % len(PRIVATE_NOTES)]
            t += timedelta(minutes=rng.uniform(1, 30))
            await step(
                t,
                lambda cid=cid, a=agent_actor, note=note: conversations.create_message(
                    session, a, cid, content=note, private=True, message_type=MessageType.OUTGOING
                ),
            )
        if follow_up and t + timedelta(hours=4) < now:
            t += timedelta(minutes=rng.uniform(10, 120))
            await step(t, lambda cid=cid, follow_up=follow_up: contact_writes(cid, follow_up))
            t += timedelta(minutes=rng.uniform(3, 60))
            await step(
                t,
                lambda cid=cid, a=agent_actor: conversations.create_message(
                    session,
                    a,
                    cid,
                    content="Glad to hear it. Anything else we can do?",
                    private=False,
                    message_type=MessageType.OUTGOING,
                ),
            )
        if recent:
            if n % 2 == 1:
                await step(
                    t + timedelta(minutes=1),
                    lambda cid=cid, a=agent_actor: conversations.set_status(
                        session, a, cid, ConversationStatus.PENDING, None
                    ),
                )
            continue
        t += timedelta(hours=rng.uniform(0.5, 20))
        if n % 5 == 4 or t >= now:
            continue  # an older conversation that is still open
        await step(
            t,
            lambda cid=cid, a=agent_actor: conversations.set_status(session, a, cid, ConversationStatus.RESOLVED, None),
        )
        if n % 4 != 3:
            # The contact answers the CSAT survey of the resolved conversation.
            async def rate(cid=cid, n=n) -> None:
                conv = await session.get(Conversation, cid)
                contact_inbox = await session.get(ContactInbox, conv.contact_inbox_id)
                rating = (5, 4, 5, 3, 5, 2, 4)[n % 7]
                visitor = contact_sessions.session_actor(contact_inbox, await session.get(Inbox, conv.inbox_id))
                await visitor_conversations.submit_csat(
                    session, visitor, cid, rating, "" if rating >= 4 else "Took a while, but it got sorted."
                )

            await step(t + timedelta(minutes=rng.uniform(2, 90)), rate)
    # The reporting consumer records these after commit (an outbox job); recording them in this
    # transaction makes the reports complete on the first start. The job, when it runs, adds nothing.
    logged = await events.finalize(session)
    await recorder.record(session, [e.id for e in logged])


async def demo_widget_token(settings: Settings) -> str | None:
    """The website token of the demo account's widget inbox, for the widget's demo page."""
    from db.models import Inbox
    from domain.enums import ChannelType

    engine = create_engine(settings.effective_database_url, pool_size=1, max_overflow=0)
    try:
        async with create_session_factory(engine)() as session:
            return await session.scalar(
                select(Inbox.website_token)
                .join(Account, Account.id == Inbox.account_id)
                .where(Account.name == DEMO_ACCOUNT, Inbox.channel_type == ChannelType.WEB_WIDGET)
                .limit(1)
            )
    finally:
        await engine.dispose()


def describe_demo(settings: Settings, logins: list[DemoLogin], widget_token: str | None = None) -> str:
    lines = [
        "",
        "Parley is starting.",
        f"  GraphiQL:  {settings.base_url}/graphql",
        f"  Health:    {settings.base_url}/readyz",
    ]
    if widget_token:
        lines.append(f"  Widget:    {settings.base_url}/widget/demo?token={widget_token}")
    lines += [
        f"  Demo account: {DEMO_ACCOUNT}",
    ]
    for login in logins:
        lines.append(f"    {login.role:<13} {login.email:<26} password: {login.password}")
    lines.append("")
    return "\n".join(lines)
