"""GraphQL of the privacy duties: contact data export, erasure, retention policies."""
