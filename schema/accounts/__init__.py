"""The GraphQL face of accounts and authentication."""
