"""The GraphQL face of the website widget's public API."""
