"""The GraphQL schema: one package per domain (`types`, `inputs`, `errors`, `root`), what they share
in `core/`, the schema extensions in `extensions/`, and `root.py` assembling Query, Mutation and
Subscription."""
