"""Chatwoot's filters: conditions on standard and custom attributes, checked and turned into one
SQLAlchemy predicate with bound parameters (see `conditions.compile_conditions`)."""
