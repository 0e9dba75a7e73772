"""Root fields of the privacy duties, merged into the schema's Query and Mutation. Administrators only."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import privacy as r
from schema.core.access import field, mutation
from schema.privacy import types as t


@strawberry.type
class PrivacyQuery:
    contact_data_export_job: t.ContactDataExport = field(
        r.contact_data_export_job,
        Rule.administrator,
        "One contact data export of the account with its status and, once DONE, a short-lived download link. "
        "Errors: NOT_FOUND for another account's export.",
    )
    retention_policy: t.RetentionPolicy = field(
        r.retention_policy, Rule.administrator, "How long the account keeps messages and files."
    )


@strawberry.type
class PrivacyMutation:
    contact_data_export: t.ContactDataExportPayload = mutation(
        r.contact_data_export,
        Rule.administrator,
        "Export everything the account holds about a contact (the contact, attributes, conversations, messages, "
        "notes, CSAT answers, the audit of what was exported, their files) as one ZIP built by a worker; poll "
        "contactDataExportJob for its download link. Audited. Errors: NOT_FOUND for another account's contact.",
    )
    contact_erase: t.ContactErasePayload = mutation(
        r.contact_erase,
        Rule.administrator,
        "Erase a person: the contact is anonymised (no name, email, phone, identifier, attributes), the messages "
        "they sent lose their content, their files, notes and earlier exports are deleted; conversations and "
        "reporting numbers stay. Cannot be undone. Audited. Errors: ALREADY_ERASED; NOT_FOUND for another "
        "account's contact.",
    )
    retention_policy_update: t.RetentionPolicyUpdatePayload = mutation(
        r.retention_policy_update,
        Rule.administrator,
        "Keep messages and/or files only so many days; a scheduled pass applies it in batches (expired messages "
        "keep their rows for reports and lose content and files). Audited. Errors: OUT_OF_RANGE.",
    )
