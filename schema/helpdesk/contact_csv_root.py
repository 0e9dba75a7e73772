"""Root fields of contact CSV import and export, merged into the schema's Query and Mutation.
Administrators only, as in Chatwoot."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import contact_csv as r
from schema.core.access import field, mutation
from schema.helpdesk import contact_csv_types as t


@strawberry.type
class ContactCsvQuery:
    contact_import: t.ContactImport = field(
        r.contact_import,
        Rule.administrator,
        "One contact import of the account with its progress and refused rows. Errors: NOT_FOUND for another "
        "account's import.",
    )


@strawberry.type
class ContactCsvMutation:
    contacts_import: t.ContactsImportPayload = mutation(
        r.contacts_import,
        Rule.administrator,
        "Import contacts from CSV (columns name, email, phone_number, identifier, labels and contact custom "
        "attribute keys). A row matches a contact by email, then phone, then identifier and changes only what "
        "differs. A worker runs it in batches; poll contactImport for progress and refused rows. Errors: "
        "TOO_LONG over 5 MB, TOO_MANY over 50,000 rows, INVALID for a file that is not CSV or has no email, "
        "phone_number or identifier column.",
    )
    contacts_export: t.ContactsExportPayload = mutation(
        r.contacts_export,
        Rule.administrator,
        "Export the account's contacts (or one label's, or a search's) as CSV with a short-lived download link; "
        "cells that start like a formula get a leading '.",
    )
