"""The GraphQL face of the catalog: teams, labels, canned responses, custom attributes."""
