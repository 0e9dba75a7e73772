"""The words of SLAs, shared by the models, the domain and the schema."""

from enum import StrEnum


class SlaStatus(StrEnum):
    """Chatwoot's `applied_slas.sla_status`."""

    ACTIVE = "active"  # targets still running, none missed
    ACTIVE_WITH_MISSES = "active_with_misses"  # still running, one or more missed already
    HIT = "hit"  # resolved with every target met
    MISSED = "missed"  # resolved with one or more targets missed


class SlaTarget(StrEnum):
    """What an SLA times (Chatwoot's `sla_events.event_type` frt, nrt, rt)."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"
