"""Types and inputs of automation rules, their runs and macros."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.automation import rules
from domain.automation.actions import actions_of
from domain.automation.enums import RunOutcome, Trigger
from schema.automation.errors import AutomationError
from schema.core.ids import encode_id
from schema.helpdesk.inputs import FilterConditionInput
from schema.helpdesk.saved_views import FilterCondition

AutomationEventEnum = strawberry.enum(
    Trigger,
    name="AutomationEvent",
    description="What a rule listens to: a conversation created, updated (assignee, team, labels, priority, "
    "custom attributes), opened or resolved, or a message created (incoming or outgoing).",
)
AutomationRunOutcomeEnum = strawberry.enum(
    RunOutcome, name="AutomationRunOutcome", description="How one rule met one event."
)

ACTIONS_DOC = (
    "Actions (at most 20), each `actionName` with its `params`: assign_agent [User ID]; assign_team [Team ID]; "
    "add_label / remove_label [titles]; change_priority [urgent|high|medium|low|none]; change_status "
    "[open|pending|resolved]; snooze_conversation [hours]? ; resolve_conversation []; send_message [text]; "
    "add_private_note [text]; send_email_to_team [text, Team ID, …]; send_webhook_event [Webhook ID]; "
    "mute_conversation []; apply_sla [SlaPolicy ID]. IDs must be the account's."
)


@strawberry.type(description="One action: Chatwoot's action_name and action_params.")
class AutomationAction:
    action_name: str = strawberry.field(description="The action (assign_agent, add_label, send_message, …).")
    params: list[str] = strawberry.field(description="Its parameters as text (global IDs for references).")


@strawberry.input(description="One action: Chatwoot's action_name and action_params.")
class AutomationActionInput:
    action_name: str = strawberry.field(description="The action (assign_agent, add_label, send_message, …).")
    params: list[str] = strawberry.field(
        default_factory=list, description="Its parameters as text (at most 20; global IDs for references)."
    )


def _actions(rows) -> list[AutomationAction]:
    return [AutomationAction(action_name=a.action_name, params=list(a.params)) for a in actions_of(rows)]


@strawberry.type(description="An automation rule of the account (administrators only).")
class AutomationRule:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Unique in the account (any case).")
    description: str = strawberry.field(description="What it is for.")
    event_name: AutomationEventEnum = strawberry.field(description="The event it listens to.")
    conditions: list[FilterCondition] = strawberry.field(
        description="Conditions on the conversation, its contact (`contact.<custom key>`) and the message "
        "(`message_type`, `content`, `private`), chained left to right with each one's `queryOperator`."
    )
    actions: list[AutomationAction] = strawberry.field(description="What it does, in order.")
    active: bool = strawberry.field(description="Inactive rules do not run.")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("AutomationRule", self.pk))

    @classmethod
    def from_row(cls, row) -> AutomationRule:
        return cls(
            pk=row.id,
            name=row.name,
            description=row.description,
            event_name=Trigger(row.event_name),
            conditions=[
                FilterCondition(
                    attribute_key=c.attribute_key,
                    filter_operator=c.filter_operator,
                    values=list(c.values),
                    query_operator=c.query_operator,
                )
                for c in rules.conditions_of(row)
            ],
            actions=_actions(row.actions),
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One rule met with one event: whether it matched, what it did or why it failed.")
class AutomationRun:
    pk: strawberry.Private[int]
    rule_pk: strawberry.Private[int]
    event_pk: strawberry.Private[int]
    conversation_pk: strawberry.Private[int | None]
    outcome: AutomationRunOutcomeEnum = strawberry.field(description="done, not_matched, failed or skipped.")
    actions_done: list[str] = strawberry.field(description="The actions that ran, in order.")
    error: str | None = strawberry.field(description="Why it failed or was skipped.")
    created_at: datetime = strawberry.field(description="When it ran.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("AutomationRun", self.pk))

    @strawberry.field(description="The rule's global ID.")
    def rule_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("AutomationRule", self.rule_pk))

    @strawberry.field(description="The event's global ID.")
    def event_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Event", self.event_pk))

    @strawberry.field(description="The conversation's global ID.")
    def conversation_id(self) -> strawberry.ID | None:
        return strawberry.ID(encode_id("Conversation", self.conversation_pk)) if self.conversation_pk else None

    @classmethod
    def from_row(cls, row) -> AutomationRun:
        return cls(
            pk=row.id,
            rule_pk=row.rule_id,
            event_pk=row.event_id,
            conversation_pk=row.conversation_id,
            outcome=RunOutcome(row.outcome),
            actions_done=list(row.actions_done or []),
            error=row.error,
            created_at=row.created_at,
        )


@strawberry.input(description="A new automation rule.")
class AutomationRuleCreateInput:
    name: str = strawberry.field(description="1 to 100 characters, unique in the account.")
    event_name: AutomationEventEnum = strawberry.field(description="The event it listens to.")
    actions: list[AutomationActionInput] = strawberry.field(description=ACTIONS_DOC)
    conditions: list[FilterConditionInput] = strawberry.field(
        default_factory=list, description="Conditions (at most 20), checked as the conversation list checks them."
    )
    description: str = strawberry.field(default="", description="At most 500 characters.")
    active: bool = strawberry.field(default=True, description="Inactive rules do not run.")


@strawberry.input(description="Changes to an automation rule; omitted fields stay as they are.")
class AutomationRuleUpdateInput:
    name: str | None = strawberry.field(default=None, description="A new name.")
    event_name: AutomationEventEnum | None = strawberry.field(default=None, description="A new event.")
    actions: list[AutomationActionInput] | None = strawberry.field(default=None, description=ACTIONS_DOC)
    conditions: list[FilterConditionInput] | None = strawberry.field(default=None, description="New conditions.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    active: bool | None = strawberry.field(default=None, description="Turn the rule on or off.")


@strawberry.type(description="Result of the automation rule mutations.")
class AutomationRulePayload:
    automation_rule: AutomationRule | None = strawberry.field(description="The rule (as it was, after a deletion).")
    errors: list[AutomationError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="A saved list of actions an agent runs on conversations: yours, or the account's.")
class Macro:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Its name.")
    account_wide: bool = strawberry.field(description="Shared with the whole account (administrators manage it).")
    actions: list[AutomationAction] = strawberry.field(description="What it does, in order.")
    created_at: datetime = strawberry.field(description="When it was saved.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Macro", self.pk))

    @classmethod
    def from_row(cls, row) -> Macro:
        return cls(
            pk=row.id,
            name=row.name,
            account_wide=row.owner_user_id is None,
            actions=_actions(row.actions),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="A new macro.")
class MacroCreateInput:
    name: str = strawberry.field(description="1 to 100 characters.")
    actions: list[AutomationActionInput] = strawberry.field(description=ACTIONS_DOC)
    account_wide: bool = strawberry.field(
        default=False, description="Share with the whole account (administrators only)."
    )


@strawberry.input(description="Changes to a macro; omitted fields stay as they are.")
class MacroUpdateInput:
    name: str | None = strawberry.field(default=None, description="A new name.")
    actions: list[AutomationActionInput] | None = strawberry.field(default=None, description=ACTIONS_DOC)


@strawberry.type(description="Result of the macro mutations.")
class MacroPayload:
    macro: Macro | None = strawberry.field(description="The macro (as it was, after a deletion).")
    errors: list[AutomationError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of macroExecute.")
class MacroExecutePayload:
    conversation_ids: list[strawberry.ID] = strawberry.field(description="The conversations it ran on.")
    actions_done: list[str] = strawberry.field(description="The actions that ran on each.")
    errors: list[AutomationError] = strawberry.field(
        description="User errors; empty on success (nothing changed otherwise)."
    )
