"""Parley: a GraphQL-first helpdesk API server."""

__version__ = "0.1.0"
