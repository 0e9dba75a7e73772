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
from parley.settings import Environment, Settings

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
                logins.append(DemoLogin(name=name, email=email, role=role.value, password=password))
            if existing is None:
                await _seed_helpdesk(session, account.id)
            from domain import events

            await events.finalize(session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(x) for x in logins], indent=2))
        path.chmod(0o600)
        return logins
    finally:
        await engine.dispose()


DEMO_CONTACTS = [
    ("Carla Customer", "carla@example.test", "My parcel #4711 has not arrived yet."),
    ("Dan Developer", "dan@example.test", "Your API returns 429 for me, what are the limits?"),
    ("Erin Enterprise", "erin@example.test", "We would like a quote for 50 seats."),
    ("Frank Freelancer", "frank@example.test", "How do I change my invoice address?"),
    ("Gina Gardener", "gina@example.test", "The widget does not load on my site."),
]


async def _seed_helpdesk(session, account_id: int) -> None:
    """Inboxes, labels, contacts and conversations, created through the domain services."""
    from domain import catalog
    from domain.accounts.actor import Actor, ActorKind, effective_permissions
    from domain.audit import RequestMeta
    from domain.enums import ChannelType, ConversationStatus, MessageType
    from domain.helpdesk import contacts, conversations, inboxes

    users = {u.email: u for u in (await session.scalars(select(User).join(
        AccountMembership, AccountMembership.user_id == User.id).where(AccountMembership.account_id == account_id))).all()}
    admin = users[DEMO_USERS[0][1]]
    actor = Actor(kind=ActorKind.user, user_id=admin.id, account_id=account_id, role=Role.ADMINISTRATOR,
                  permissions=effective_permissions(Role.ADMINISTRATOR, None), label=admin.email)
    meta = RequestMeta(ip="127.0.0.1", user_agent="parley seed-demo")
    api = await inboxes.create_inbox(session, actor, name="Support API", channel_type=ChannelType.API, config={},
                                     settings={}, meta=meta)
    await inboxes.create_inbox(session, actor, name="Website", channel_type=ChannelType.WEB_WIDGET,
                               config={"welcomeTitle": "Hi there!", "welcomeTagline": "We reply in a few minutes."},
                               settings={}, meta=meta)
    await inboxes.set_inbox_members(session, actor, api.id, [u.id for u in users.values()], meta)
    for title, color in (("billing", "#f59e0b"), ("bug", "#ef4444"), ("sales", "#10b981")):
        await catalog.create_label(session, actor, title=title, description="", color=color, show_on_sidebar=True, meta=meta)
    agent = users[DEMO_USERS[1][1]]
    for n, (name, email, text) in enumerate(DEMO_CONTACTS):
        contact = await contacts.create_contact(session, actor, {"name": name, "email": email})
        conv = await conversations.create_conversation(session, actor, inbox_id=api.id, contact_id=contact.id, content=None)
        await conversations.create_message(session, actor, conv.id, content=text, private=False,
                                           message_type=MessageType.INCOMING)
        if n % 2 == 0:
            await conversations.assign(session, actor, conv.id, assignee_id=agent.id, set_assignee=True,
                                       team_id=None, set_team=False)
            await conversations.create_message(session, actor, conv.id, content="Thanks, we are looking into it.",
                                               private=False, message_type=MessageType.OUTGOING)
        if n == 3:
            await conversations.set_status(session, actor, conv.id, ConversationStatus.RESOLVED, None)


async def demo_widget_token(settings: Settings) -> str | None:
    """The website token of the demo account's widget inbox, for the widget's demo page."""
    from db.models import Inbox
    from domain.enums import ChannelType

    engine = create_engine(settings.effective_database_url, pool_size=1, max_overflow=0)
    try:
        async with create_session_factory(engine)() as session:
            return await session.scalar(
                select(Inbox.website_token).join(Account, Account.id == Inbox.account_id)
                .where(Account.name == DEMO_ACCOUNT, Inbox.channel_type == ChannelType.WEB_WIDGET).limit(1)
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
