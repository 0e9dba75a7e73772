"""Thin resolvers: parse input, call one domain service, build the payload. DataLoaders live here too."""
