"""Service-level agreements (Chatwoot's SLA policies): targets per account, applied to conversations."""
