"""Leaf infrastructure every layer may use: settings, structured logs, the broadcast bus, Redis
counters and rate limits, socket presence, the persisted-document store and the typed `Services`
the app and the worker hold for their lifetime. Nothing here imports the domain, the GraphQL layer
or the HTTP edge."""
