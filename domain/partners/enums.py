"""Enumerations of partner apps and their manifests."""

from enum import StrEnum


class ManifestFormat(StrEnum):
    APOLLO = "apollo"  # Apollo's persisted query manifest: {format, version, operations: [{id, name, type, body}]}
    RELAY = "relay"  # Relay's persisted queries JSON: {id: body}


class OperationKind(StrEnum):
    QUERY = "query"
    MUTATION = "mutation"
    SUBSCRIPTION = "subscription"
