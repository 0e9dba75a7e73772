"""The demo account (`parley seed-demo`) as a test fixture: its administrator signed in over the API."""

from __future__ import annotations

from infra.settings import Settings
from parley.demo import seed_demo
from tests.support.accounts import login
from tests.support.gql import GraphQLHTTP


async def demo_admin(gql: GraphQLHTTP, settings: Settings) -> dict[str, str]:
    """Request headers of the demo account's administrator (the account is created once per database)."""
    logins = await seed_demo(settings)
    admin = next(x for x in logins if x.role == "administrator")
    access = (await login(gql, admin.email, admin.password))["tokens"]["accessToken"]
    me = await gql.data("{ me { currentAccount { id } } }", headers={"Authorization": f"Bearer {access}"})
    return {"Authorization": f"Bearer {access}", "X-Parley-Account": me["me"]["currentAccount"]["id"]}
