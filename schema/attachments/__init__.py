"""The GraphQL face of attachments and their uploads."""
