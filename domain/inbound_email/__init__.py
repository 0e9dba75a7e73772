"""Inbound email: one parser and one receiver for every door (HTTP ingress, `parley mail-in`, IMAP)."""
