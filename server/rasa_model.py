"""The trained Rasa model, cached outside the clone and keyed by a hash of its inputs.

Training takes minutes; CI's fresh clones and repeated `make run`s reuse a model whose domain,
config and training data have not changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from server.settings import PROJECT_ROOT, Settings

RASA_VERSION = "3.6.21"
MODEL_INPUTS = ("domain.yml", "config.yml")
DATA_DIR = "data"
# Custom pipeline components: their code is part of the model as much as the data is.
COMPONENTS_DIR = "rasa_components"


def rasa_bin(root: Path = PROJECT_ROOT) -> Path:
    return root / ".venv-rasa" / "bin" / "rasa"


def model_inputs(root: Path = PROJECT_ROOT) -> list[Path]:
    files = [root / name for name in MODEL_INPUTS]
    files += sorted(p for p in (root / DATA_DIR).rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))
    files += sorted((root / COMPONENTS_DIR).glob("*.py"))
    return files


def model_hash(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256(RASA_VERSION.encode())
    for path in model_inputs(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def cached_model_path(settings: Settings, root: Path = PROJECT_ROOT) -> Path:
    return settings.model_cache_dir / f"negocia-{model_hash(root)}.tar.gz"


def ensure_model(settings: Settings, root: Path = PROJECT_ROOT, *, force: bool = False) -> Path:
    """Return the cached model for the current inputs, training it first when missing."""
    target = cached_model_path(settings, root)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"[train] treinando o modelo Rasa ({target.name}); leva alguns minutos...", file=sys.stderr)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(
        [
            str(rasa_bin(root)), "train",
            "--domain", "domain.yml", "--config", "config.yml", "--data", DATA_DIR,
            "--out", str(target.parent), "--fixed-model-name", target.name.removesuffix(".tar.gz"),
        ],
        cwd=root, env=env, check=True, stdout=sys.stderr,  # stdout carries only the model path
    )  # fmt: skip
    return target
