"""Rasa custom actions: thin adapters from the tracker to the server's internal API.

No business rules and no database here; texts come from domain.yml responses.
"""
