from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_without_python_310_fails_with_a_clear_message(tmp_path: Path) -> None:
    # No pyenv under this HOME and only the system's bin directories on PATH: no Python 3.10.
    # A copy runs in a scratch project so the real checkout's environments are never touched.
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "setup.sh"
    script.write_text((ROOT / "scripts" / "setup.sh").read_text())
    result = subprocess.run(
        ["bash", str(script)],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Python 3.10 not found" in result.stderr or "Python 3.11 or newer not found" in result.stderr
    assert not (tmp_path / ".venv").exists() and not (tmp_path / ".venv-rasa").exists()
