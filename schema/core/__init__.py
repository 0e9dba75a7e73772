"""What the GraphQL types of every domain share: global IDs, connections, access rules and payload errors."""
