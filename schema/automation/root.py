"""Root fields of automation rules, their runs and macros."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import automation as r
from schema.automation import types as t
from schema.core.access import field, mutation
from schema.core.pagination import Connection


@strawberry.type
class AutomationQuery:
    automation_rules: list[t.AutomationRule] = field(
        r.automation_rules, Rule.administrator, "The account's automation rules, oldest first (administrators)."
    )
    automation_rule: t.AutomationRule = field(r.automation_rule, Rule.administrator, "One automation rule.")
    automation_runs: Connection[t.AutomationRun] = field(
        r.automation_runs,
        Rule.administrator,
        "What the account's rules did, newest first: one run per rule and event (administrators).",
    )
    macros: list[t.Macro] = field(
        r.macros_list, Rule.agent, "Your macros and the account-wide ones (account-wide first, then by name)."
    )


@strawberry.type
class AutomationMutation:
    automation_rule_create: t.AutomationRulePayload = mutation(
        r.automation_rule_create,
        Rule.administrator,
        "Create an automation rule (checked: attributes, references, cycles).",
    )
    automation_rule_update: t.AutomationRulePayload = mutation(
        r.automation_rule_update, Rule.administrator, "Change an automation rule, or turn it on or off."
    )
    automation_rule_delete: t.AutomationRulePayload = mutation(
        r.automation_rule_delete, Rule.administrator, "Delete an automation rule with its runs."
    )
    macro_create: t.MacroPayload = mutation(
        r.macro_create, Rule.agent, "Save a macro: yours, or (administrators) the account's."
    )
    macro_update: t.MacroPayload = mutation(
        r.macro_update, Rule.agent, "Change a macro (account-wide: administrators)."
    )
    macro_delete: t.MacroPayload = mutation(
        r.macro_delete, Rule.agent, "Delete a macro (account-wide: administrators)."
    )
    macro_execute: t.MacroExecutePayload = mutation(
        r.macro_execute,
        Rule.agent,
        "Run a macro on conversations you can see, as you: every action with its events, or nothing.",
    )
