"""GraphQL of inbound email: the record of every email received."""
