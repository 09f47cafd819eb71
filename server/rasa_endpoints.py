"""endpoints.yml for `rasa run`, generated from settings (Rasa's file cannot branch on env).

- action server on NEGOCIA_ACTIONS_PORT;
- tracker store: SQL, in the same PostgreSQL as the server when it uses one, else a SQLite file
  beside the server's (Rasa loads only the current session's events, so long-lived debtors stay cheap);
- lock store: Redis when NEGOCIA_REDIS_URL is set (several Rasa processes), else in memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from server.settings import PROJECT_ROOT, Settings


def tracker_store(settings: Settings) -> dict[str, Any]:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        return {
            "type": "SQL",
            "dialect": "postgresql",
            "url": url.host or "127.0.0.1",
            "port": url.port or 5432,
            "db": url.database,
            "username": url.username or "",
            "password": url.password or "",
        }
    db_file = Path(url.database or str(PROJECT_ROOT / "var" / "negocia.db"))
    return {"type": "SQL", "dialect": "sqlite", "db": str(db_file.with_name(db_file.stem + "-rasa.db"))}


def lock_store(settings: Settings) -> dict[str, Any] | None:
    if not settings.redis_url:
        return None
    url = urlsplit(settings.redis_url)
    return {
        "type": "redis",
        "url": url.hostname or "127.0.0.1",
        "port": url.port or 6379,
        "db": int(url.path.strip("/") or 0),
        "password": url.password,
        "key_prefix": "negocia",
    }


def endpoints(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "action_endpoint": {"url": f"http://127.0.0.1:{settings.actions_port}/webhook"},
        "tracker_store": tracker_store(settings),
    }
    lock = lock_store(settings)
    if lock:
        config["lock_store"] = lock
    return config


def write_endpoints(settings: Settings, path: Path) -> Path:
    """Write the file (JSON, which is valid YAML) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(endpoints(settings), indent=2), encoding="utf-8")
    return path
