"""The product benchmark's requests: each scenario names the GraphQL document Parley runs and the
floor endpoint that answers the same data with hand-written SQL."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

CONVERSATION_FIELDS = """id displayId status lastActivityAt
      contact { name email }
      assignee { name }
      labels { title }"""

DASHBOARD = f"""query Dashboard($status: ConversationStatus!, $first: Int!) {{
  conversations(filter: {{status: $status}}, first: $first) {{
    nodes {{
      {CONVERSATION_FIELDS}
      lastMessage {{ content createdAt }}
    }}
  }}
}}"""

FILTERED = f"""query FilteredDashboard($status: ConversationStatus, $first: Int!, $conditions: [FilterConditionInput!]) {{
  conversations(filter: {{status: $status, conditions: $conditions}}, first: $first) {{
    nodes {{
      {CONVERSATION_FIELDS}
      lastMessage {{ content createdAt }}
    }}
  }}
}}"""

SEARCH = f"""query ConversationSearch($search: String!, $first: Int!) {{
  conversations(filter: {{search: $search}}, first: $first) {{
    nodes {{
      {CONVERSATION_FIELDS}
      lastMessage {{ content createdAt }}
    }}
  }}
}}"""

GLOBAL_SEARCH = """query Search($query: String!, $first: Int!) {
  search(query: $query, first: $first) {
    conversations { id displayId }
    messages { snippet message { id } conversation { id displayId } }
    contacts { id name email }
  }
}"""

CONVERSATION = f"""query ConversationOpen($id: ID!, $first: Int!) {{
  conversation(id: $id) {{
    {CONVERSATION_FIELDS}
    messages(first: $first) {{
      nodes {{ id content messageType private createdAt senderUser {{ name }} senderContact {{ name }} }}
    }}
  }}
}}"""

MESSAGE_CREATE = """mutation MessageCreate($input: MessageCreateInput!) {
  messageCreate(input: $input) {
    message { id content createdAt }
    errors { field code message }
  }
}"""

REPORT_FIELDS = "conversationsOpened incomingMessages outgoingMessages firstResponse { count average median }"
REPORT = f"""query YearReport($input: ReportInput!) {{
  report(input: $input) {{
    since until
    summary {{ {REPORT_FIELDS} }}
    series {{ start metrics {{ {REPORT_FIELDS} }} }}
  }}
}}"""

ACCOUNT_EVENTS = "subscription Feed { accountEvents { cursor type message { id content } } }"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass
class Scenario:
    name: str  # shown in the table and matched by --scenario
    label: str
    document: str
    floor_path: str
    connections: int
    variables: list[dict]  # one per prepared request; the load generator rotates over them
    floor_variables: list[dict]
    persisted: bool = False  # send only the APQ hash (registered before the run)
    admin: bool = False  # needs report_manage: the administrator's token
    expect: str = ""  # a key path that must be in every valid answer
    notes: dict = field(default_factory=dict)

    def body(self, variables: dict) -> str:
        if self.persisted:
            return json.dumps(
                {
                    "variables": variables,
                    "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(self.document)}},
                }
            )
        return json.dumps({"query": self.document, "variables": variables})

    def register_body(self, variables: dict) -> str:
        return json.dumps(
            {
                "query": self.document,
                "variables": variables,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(self.document)}},
            }
        )
