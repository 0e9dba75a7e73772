"""The GraphQL face of diagnostics: server information and pings through broadcast."""
