"""The GraphQL face of notifications and notification settings."""
