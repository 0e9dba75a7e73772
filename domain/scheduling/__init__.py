"""Scheduled messages: an agent's message or note written now and sent later by the scheduler."""
