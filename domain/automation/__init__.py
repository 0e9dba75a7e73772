"""Automation rules (run by the worker on conversation and message events) and macros (run by an
agent), one action vocabulary and executor for both (domain/automation/actions.py)."""
