"""Application services: use cases that combine the domain with persistence."""
