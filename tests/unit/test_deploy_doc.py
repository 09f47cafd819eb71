"""docs/deploy.md lists every setting (a new setting needs its line there)."""

from __future__ import annotations

from pathlib import Path

from server.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        f"NEGOCIA_{name.upper()}" for name in Settings.model_fields if f"| `{name.upper()}` |" not in text
    ]
    assert not missing, f"add these settings to the table in docs/deploy.md: {missing}"
