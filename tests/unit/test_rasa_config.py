from __future__ import annotations

from pathlib import Path

from server.rasa_endpoints import endpoints
from server.rasa_model import model_hash
from server.settings import Settings


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[arg-type]


def test_endpoints_for_the_embedded_default() -> None:
    cfg = endpoints(_settings(database_url="sqlite:////srv/var/negocia.db", actions_port=6000))
    assert cfg["action_endpoint"] == {"url": "http://127.0.0.1:6000/webhook"}
    assert cfg["tracker_store"] == {"type": "SQL", "dialect": "sqlite", "db": "/srv/var/negocia-rasa.db"}
    assert "lock_store" not in cfg


def test_endpoints_for_postgres_and_redis() -> None:
    cfg = endpoints(
        _settings(
            database_url="postgresql+psycopg://neg:s3cr%40t@db.internal:5433/negocia",
            redis_url="redis://:pw@cache:6380/2",
        )
    )
    assert cfg["tracker_store"] == {
        "type": "SQL", "dialect": "postgresql", "url": "db.internal", "port": 5433,
        "db": "negocia", "username": "neg", "password": "s3cr@t",
    }  # fmt: skip
    assert cfg["lock_store"] == {
        "type": "redis", "url": "cache", "port": 6380, "db": 2, "password": "pw", "key_prefix": "negocia",
    }  # fmt: skip


def _project(tmp_path: Path) -> Path:
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "domain.yml").write_text("version: '3.1'\n")
    (tmp_path / "config.yml").write_text("language: pt\n")
    (tmp_path / "data" / "nlu" / "a.yml").write_text("nlu: []\n")
    return tmp_path


def test_model_hash_changes_only_with_training_inputs(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = model_hash(root)
    (root / "README.md").write_text("docs do not retrain")
    assert model_hash(root) == first
    (root / "data" / "nlu" / "a.yml").write_text("nlu: [x]\n")
    assert model_hash(root) != first
    (root / "data" / "nlu" / "a.yml").write_text("nlu: []\n")
    assert model_hash(root) == first
    (root / "data" / "rules").mkdir()
    (root / "data" / "rules" / "r.yml").write_text("rules: []\n")
    second = model_hash(root)
    assert second != first
    (root / "rasa_components").mkdir()
    (root / "rasa_components" / "linear_intent.py").write_text("C = 1.0\n")
    assert model_hash(root) != second
