"""The Dramatiq adapter: broker, actors, middleware, dead letters, broker collectors."""
