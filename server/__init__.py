"""negocia server: domain, persistence, HTTP API and CLI."""
