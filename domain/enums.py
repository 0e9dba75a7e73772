"""Enumerations shared by the domain, the models and the schema."""

from enum import StrEnum


class AccountStatus(StrEnum):
    active = "active"
    suspended = "suspended"


class Role(StrEnum):
    administrator = "administrator"
    agent = "agent"


class Availability(StrEnum):
    online = "online"
    busy = "busy"
    offline = "offline"
