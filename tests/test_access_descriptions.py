"""Every root field states who may call it, once: the rule is appended to its description when a
schema is built, and the running server builds its own schema besides the exported one."""

from __future__ import annotations

import re

ROOTS = """{ __schema {
  queryType { fields { name description } }
  mutationType { fields { name description } }
  subscriptionType { fields { name description } }
} }"""


async def test_each_root_field_states_its_access_rule_exactly_once(gql):
    schema = (await gql.data(ROOTS))["__schema"]
    seen = 0
    for root in ("queryType", "mutationType", "subscriptionType"):
        for field in schema[root]["fields"]:
            if field["name"].startswith("_"):
                continue
            rules = re.findall(r"Access: [^.]+\.", field["description"] or "")
            assert len(rules) == 1, f"{root}.{field['name']}: {field['description']!r}"
            assert (field["description"] or "").count("Access:") == 1, field
            seen += 1
    assert seen > 50  # the whole API, not an empty schema
