"""Accounts, users, memberships and authentication."""
