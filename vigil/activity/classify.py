"""Window features -> decisions, by the rules or by a trained model (`activity.classifier`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vigil.activity.features import WindowFeatures
from vigil.activity.model import load_model
from vigil.activity.rules import Decision, classify_window
from vigil.activity.settings import ActivitySettings

__all__ = ["RulesClassifier", "WindowClassifier", "create_classifier"]


class WindowClassifier(Protocol):
    name: str

    def decide(self, features: Sequence[WindowFeatures]) -> list[Decision]: ...


class RulesClassifier:
    name = "rules"

    def decide(self, features: Sequence[WindowFeatures]) -> list[Decision]:
        return [classify_window(f) for f in features]


class _ModelClassifier:
    name = "model"

    def __init__(self, settings: ActivitySettings, default_path: str) -> None:
        from pathlib import Path

        self.path = settings.model_path or Path(default_path)
        self._model = load_model(self.path)

    def decide(self, features: Sequence[WindowFeatures]) -> list[Decision]:
        return self._model.decide(features)


def create_classifier(settings: ActivitySettings, default_model_path: str) -> WindowClassifier:
    """Raises ModelError when the trained model is asked for and cannot be loaded."""
    if settings.classifier == "model":
        return _ModelClassifier(settings, default_model_path)
    return RulesClassifier()
