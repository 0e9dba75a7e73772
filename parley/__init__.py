"""Parley: a GraphQL-first helpdesk API server."""

from infra.version import __version__

__all__ = ["__version__"]
