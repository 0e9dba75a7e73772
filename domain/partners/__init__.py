"""Partner apps: account-scoped integrations that run only the operations of their uploaded manifest."""
