"""Business rules and services: pure Python, no GraphQL and no HTTP."""
