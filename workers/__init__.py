"""Background work on Dramatiq: the broker, its runtime and the actors. Never imports schema/ or resolvers/."""
