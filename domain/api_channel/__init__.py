"""The API channel's public client API (Chatwoot's `/public/api/v1/inboxes/...`)."""
