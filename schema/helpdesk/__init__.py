"""The GraphQL face of the helpdesk: inboxes, contacts, conversations and messages."""
