"""The root Query, Mutation and Subscription types and the schema factory. Every root field names
its access rule (schema/core/access.py)."""

from __future__ import annotations

import strawberry
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig

from schema.accounts.root import AccountsMutation, AccountsQuery
from schema.attachments.root import AttachmentsMutation, AttachmentsQuery
from schema.automatic_messages.root import AutomaticMessagesMutation, AutomaticMessagesQuery
from schema.automation.root import AutomationMutation, AutomationQuery
from schema.catalog.root import CatalogMutation, CatalogQuery
from schema.diagnostics.root import DiagnosticsMutation, DiagnosticsQuery, DiagnosticsSubscription
from schema.execution import ParleyExecutionContext
from schema.extensions.pipeline import OperationPipeline
from schema.helpdesk.contact_csv_root import ContactCsvMutation, ContactCsvQuery
from schema.helpdesk.root import HelpdeskMutation, HelpdeskQuery
from schema.inbound_email.root import InboundEmailMutation, InboundEmailQuery
from schema.installation.root import InstallationMutation, InstallationQuery
from schema.notifications.root import NotificationsMutation, NotificationsQuery
from schema.partners.root import PartnersMutation, PartnersQuery
from schema.privacy.root import PrivacyMutation, PrivacyQuery
from schema.realtime.root import RealtimeMutation, RealtimeQuery, RealtimeSubscription
from schema.reports.root import ReportsMutation, ReportsQuery
from schema.scheduling.root import SchedulingMutation, SchedulingQuery
from schema.sla.root import SlaMutation, SlaQuery
from schema.webhooks.root import WebhooksMutation, WebhooksQuery
from schema.widget.root import WidgetMutation, WidgetQuery, WidgetSubscription

# Each domain contributes its root fields in schema/<domain>/root.py; add its classes here.


@strawberry.type(description="Everything that can be read.")
class Query(
    DiagnosticsQuery,
    AccountsQuery,
    HelpdeskQuery,
    ContactCsvQuery,
    CatalogQuery,
    PartnersQuery,
    RealtimeQuery,
    ReportsQuery,
    SlaQuery,
    AttachmentsQuery,
    NotificationsQuery,
    WebhooksQuery,
    InboundEmailQuery,
    SchedulingQuery,
    AutomaticMessagesQuery,
    WidgetQuery,
    AutomationQuery,
    PrivacyQuery,
    InstallationQuery,
):
    pass


@strawberry.type(description="Everything that can be changed.")
class Mutation(
    AccountsMutation,
    HelpdeskMutation,
    ContactCsvMutation,
    DiagnosticsMutation,
    CatalogMutation,
    PartnersMutation,
    RealtimeMutation,
    ReportsMutation,
    SlaMutation,
    AttachmentsMutation,
    NotificationsMutation,
    WebhooksMutation,
    InboundEmailMutation,
    SchedulingMutation,
    AutomaticMessagesMutation,
    WidgetMutation,
    AutomationMutation,
    PrivacyMutation,
    InstallationMutation,
):
    pass


@strawberry.type(description="Streams of events over WebSocket (graphql-transport-ws).")
class Subscription(DiagnosticsSubscription, RealtimeSubscription, WidgetSubscription):
    pass


class ParleySchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Expected errors (authentication, validation, limits) are answers, not incidents; the
        # unexpected ones are logged with their stack by the ErrorContract extension.
        return None


def build_schema(*, introspection: bool = True, max_batch_operations: int = 0) -> strawberry.Schema:
    """`introspection=False` turns introspection and field suggestions off for everyone; otherwise
    QueryGuard decides per caller (settings.introspection). Limits, parsing and validation caches
    live in QueryGuard (schema/extensions/guard.py); persisted operations in schema/extensions/persisted.py;
    the two with the error contract and the session's end run as one extension (schema/extensions/pipeline.py)."""
    extensions: list = [OperationPipeline]
    if not introspection:
        extensions.append(DisableIntrospection)
    batching = {"max_operations": max_batch_operations} if max_batch_operations > 0 else None
    return ParleySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=ParleyExecutionContext,
        config=StrawberryConfig(disable_field_suggestions=not introspection, batching_config=batching),
    )


schema = build_schema()
