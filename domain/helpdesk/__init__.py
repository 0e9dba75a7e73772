"""The helpdesk: inboxes, contacts, conversations and messages."""
