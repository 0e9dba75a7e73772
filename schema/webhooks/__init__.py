"""The GraphQL face of account webhooks and dead jobs."""
