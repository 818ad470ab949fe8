"""Per-user locations (XDG base directories), so every command finds the same files from any directory.

Hand-written rather than `platformdirs`: Vigil targets Linux, where the rule is three lines.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_data_dir() -> Path:
    """`$XDG_DATA_HOME/vigil`, else `~/.local/share/vigil`."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "vigil"


def user_models_dir() -> Path:
    """Where `vigil models fetch` puts model files and every command looks for them first."""
    return user_data_dir() / "models"
