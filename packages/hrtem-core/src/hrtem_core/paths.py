"""Where the project's configuration lives: one lookup for every package."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """``configs/`` of the project: $HRTEM_CONFIGS, else ./configs, else the repository's."""
    if "HRTEM_CONFIGS" in os.environ:
        return Path(os.environ["HRTEM_CONFIGS"])
    local = Path("configs")
    if (local / "train.yaml").is_file():
        return local
    return Path(__file__).resolve().parents[4] / "configs"
