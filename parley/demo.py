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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(x) for x in logins], indent=2))
        path.chmod(0o600)
        return logins
    finally:
        await engine.dispose()


def describe_demo(settings: Settings, logins: list[DemoLogin]) -> str:
    lines = [
        "",
        "Parley is starting.",
        f"  GraphiQL:  {settings.base_url}/graphql",
        f"  Health:    {settings.base_url}/readyz",
        f"  Demo account: {DEMO_ACCOUNT}",
    ]
    for login in logins:
        lines.append(f"    {login.role:<13} {login.email:<26} password: {login.password}")
    lines.append("")
    return "\n".join(lines)
