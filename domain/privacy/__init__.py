"""Privacy duties of an account: a contact's data export, their erasure, and retention policies."""
