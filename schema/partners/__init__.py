"""The GraphQL face of partner apps and of the caller's rate limit."""
