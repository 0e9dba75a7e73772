"""A small helpdesk built through the API: an account with an administrator and two agents, an API
inbox worked by one agent, a contact and conversations."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support.accounts import Member, add_agent, signup
from tests.support.gql import GraphQLHTTP

ERR = "errors { field code message }"
CONVERSATION_FIELDS = """id displayId status priority waitingSince firstReplyCreatedAt snoozedUntil
  assignee { id email } team { id name } labels { title } contact { id name } inbox { id name }
  lastMessage { content messageType } unreadCount customAttributes"""


@dataclass
class Desk:
    gql: GraphQLHTTP
    admin: Member
    agent: Member  # works the inbox
    outsider: Member  # an agent of the account who does not work the inbox
    inbox_id: str
    contact_id: str
    user_ids: dict[str, str] = field(default_factory=dict)

    async def run(self, who: Member, document: str, variables: dict | None = None) -> dict:
        return await self.gql.execute(document, variables, headers=who.headers())

    async def data(self, who: Member, document: str, variables: dict | None = None) -> dict:
        return await self.gql.data(document, variables, headers=who.headers())

    async def incoming(self, conversation_id: str, content: str) -> dict:
        """The contact writes (through the API channel)."""
        body = await self.data(
            self.admin,
            f"""mutation($c: ID!, $t: String!) {{
          messageCreate(input: {{conversationId: $c, content: $t, messageType: INCOMING}}) {{ message {{ id }} {ERR} }} }}""",
            {"c": conversation_id, "t": content},
        )
        assert body["messageCreate"]["errors"] == [], body
        return body["messageCreate"]["message"]

    async def new_conversation(self, message: str = "Hello, my order is late", contact_id: str | None = None) -> dict:
        body = await self.data(
            self.agent,
            f"""mutation($i: ID!, $c: ID!) {{
          conversationCreate(input: {{inboxId: $i, contactId: $c}}) {{ conversation {{ id displayId }} {ERR} }} }}""",
            {"i": self.inbox_id, "c": contact_id or self.contact_id},
        )
        assert body["conversationCreate"]["errors"] == [], body
        conversation = body["conversationCreate"]["conversation"]
        await self.incoming(conversation["id"], message)
        return conversation

    async def conversation(self, who: Member, conversation_id: str) -> dict:
        body = await self.run(
            who, f"query($id: ID!) {{ conversation(id: $id) {{ {CONVERSATION_FIELDS} }} }}", {"id": conversation_id}
        )
        return body


async def user_id(gql: GraphQLHTTP, member: Member) -> str:
    return (await gql.data("{ me { user { id } } }", headers=member.headers()))["me"]["user"]["id"]


async def build_desk(gql: GraphQLHTTP, smtp) -> Desk:
    admin = await signup(gql, account="Desk")
    agent = await add_agent(gql, admin, smtp)
    outsider = await add_agent(gql, admin, smtp)
    inbox = await gql.data(
        # Auto-assignment off: these tests assign by hand (tests/test_auto_assignment.py covers it).
        f"""mutation {{ inboxCreate(input: {{name: "API", channelType: API,
          settings: {{enableAutoAssignment: false}}}}) {{ inbox {{ id }} {ERR} }} }}""",
        headers=admin.headers(),
    )
    inbox_id = inbox["inboxCreate"]["inbox"]["id"]
    ids = {
        "admin": await user_id(gql, admin),
        "agent": await user_id(gql, agent),
        "outsider": await user_id(gql, outsider),
    }
    members = await gql.data(
        f"""mutation($i: ID!, $u: [ID!]!) {{ inboxMembersSet(id: $i, userIds: $u) {{ inbox {{ members {{ email }} }} {ERR} }} }}""",
        {"i": inbox_id, "u": [ids["agent"]]},
        headers=admin.headers(),
    )
    assert members["inboxMembersSet"]["errors"] == []
    contact = await gql.data(
        f"""mutation {{ contactCreate(input: {{name: "Carla Customer", email: "carla@example.test"}}) {{ contact {{ id }} {ERR} }} }}""",
        headers=admin.headers(),
    )
    return Desk(gql, admin, agent, outsider, inbox_id, contact["contactCreate"]["contact"]["id"], ids)
