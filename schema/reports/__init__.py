"""The GraphQL face of reports and report exports."""
