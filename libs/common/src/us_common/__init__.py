"""Shared pieces of the three services: settings, logging, JWT, the Redis bus contract, health."""
