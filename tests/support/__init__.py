"""Test support: live servers on free ports, GraphQL HTTP and WebSocket clients, service processes."""
