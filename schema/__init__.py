"""The GraphQL schema: Strawberry types, inputs, root Query/Mutation/Subscription and extensions."""
