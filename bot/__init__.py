"""Gateway between chat channels and the dialogue engine (in the server process)."""
