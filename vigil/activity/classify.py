"""Window features -> decisions, by the rules or by a trained model (`activity.classifier`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from vigil.activity.features import WindowFeatures
from vigil.activity.model import load_model
from vigil.activity.rules import Decision, classify_window
from vigil.activity.settings import ActivitySettings

__all__ = ["RulesClassifier", "WindowClassifier", "create_classifier"]


class WindowClassifier(Protocol):
    @property
    def name(self) -> str: ...

    def decide(self, features: Sequence[WindowFeatures]) -> list[Decision]: ...


class RulesClassifier:
    name = "rules"

    def decide(self, features: Sequence[WindowFeatures]) -> list[Decision]:
        return [classify_window(f) for f in features]


def create_classifier(settings: ActivitySettings, default_model_path: str) -> WindowClassifier:
    """Raises ModelError when the trained model is asked for and cannot be loaded."""
    if settings.classifier == "model":
        return load_model(settings.model_path or Path(default_model_path))
    return RulesClassifier()
