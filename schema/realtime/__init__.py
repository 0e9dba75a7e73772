"""The GraphQL face of the real-time streams, typing indicators and presence."""
