"""Types and inputs of saved views (named filters of the conversation and contact lists) and of the
bulk actions over every conversation or contact a filter matches."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.filters import saved_views
from domain.filters.enums import SavedViewKind
from schema.core.ids import encode_id
from schema.helpdesk.errors import HelpdeskError
from schema.helpdesk.inputs import ConversationTabEnum, FilterConditionInput

SavedViewKindEnum = strawberry.enum(SavedViewKind, name="SavedViewKind", description="The list a saved view filters.")


@strawberry.type(description="One saved filter condition, Chatwoot's shape.")
class FilterCondition:
    attribute_key: str = strawberry.field(description="The standard attribute or custom attribute key.")
    filter_operator: str = strawberry.field(description="The operator (equal_to, contains, days_before, …).")
    values: list[str] = strawberry.field(description="The values as text (global IDs for references).")
    query_operator: str | None = strawberry.field(description="`and` or `or` joining it to the next condition.")


@strawberry.type(description="A named filter of the conversation or contact list: yours, or the account's.")
class SavedView:
    pk: strawberry.Private[int]
    kind: SavedViewKindEnum = strawberry.field(description="The list it filters.")
    name: str = strawberry.field(description="Unique among its owner's views of the list (any case).")
    account_wide: bool = strawberry.field(description="Shared with the whole account (administrators manage it).")
    conditions: list[FilterCondition] = strawberry.field(description="The filter conditions, in order.")
    tab: ConversationTabEnum | None = strawberry.field(description="The conversation tab it opens on, if any.")
    created_at: datetime = strawberry.field(description="When it was saved.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("SavedView", self.pk))

    @classmethod
    def from_row(cls, row) -> SavedView:
        tab = saved_views.tab_of(row)
        return cls(
            pk=row.id,
            kind=SavedViewKind(row.kind),
            name=row.name,
            account_wide=row.owner_user_id is None,
            conditions=[
                FilterCondition(
                    attribute_key=c.attribute_key,
                    filter_operator=c.filter_operator,
                    values=list(c.values),
                    query_operator=c.query_operator,
                )
                for c in saved_views.conditions_of(row)
            ],
            tab=ConversationTabEnum(tab) if tab else None,  # type: ignore[operator]
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="A new saved view.")
class SavedViewCreateInput:
    kind: SavedViewKindEnum = strawberry.field(description="The list it filters.")
    name: str = strawberry.field(description="1 to 100 characters, unique among your views of the list.")
    conditions: list[FilterConditionInput] = strawberry.field(
        default_factory=list, description="Filter conditions (at most 20), checked as the list checks them."
    )
    tab: ConversationTabEnum | None = strawberry.field(default=None, description="Conversation views only.")
    account_wide: bool = strawberry.field(
        default=False, description="Share with the whole account (administrators only)."
    )


@strawberry.input(description="Changes to a saved view; omitted fields stay as they are.")
class SavedViewUpdateInput:
    name: str | None = strawberry.field(default=None, description="A new name.")
    conditions: list[FilterConditionInput] | None = strawberry.field(
        default=None, description="Replace the conditions (and the tab, with `tab`)."
    )
    tab: ConversationTabEnum | None = strawberry.field(
        default=None, description="The tab, replaced together with `conditions`."
    )


@strawberry.type(description="Result of the saved view mutations.")
class SavedViewPayload:
    saved_view: SavedView | None = strawberry.field(description="The view (as it was, after a deletion).")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of conversationsBulkUpdate.")
class ConversationsBulkPayload:
    matched: int = strawberry.field(description="Conversations the filter matched among those you may see.")
    changed: int = strawberry.field(description="Conversations that changed (each with its usual event).")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.input(description="Which contacts a bulk action works on: the contact list's arguments.")
class ContactsFilterInput:
    search: str | None = strawberry.field(
        default=None, description="Name, email, phone or identifier, as the list's `search`; 1 to 200 characters."
    )
    label: str | None = strawberry.field(default=None, description="Only contacts with this label (title).")
    conditions: list[FilterConditionInput] | None = strawberry.field(
        default=None, description="Filter conditions on contacts (at most 20), as the list's `conditions`."
    )


@strawberry.type(description="Result of contactsBulkLabels and contactsBulkDelete.")
class ContactsBulkPayload:
    matched: int = strawberry.field(description="Contacts the ids or the filter named (of your account).")
    changed: int = strawberry.field(description="Contacts that changed or were deleted (each with its usual event).")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")
