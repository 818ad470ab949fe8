"""Operators' decisions on alerts, with what they teach: a rejection turns the alert's faces into
negatives of the person (in the same transaction as the decision); a confirmation may add the
alert's best face to the person's references (an admin's choice: it changes the registry)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import cv2

from vigil.errors import ConflictError
from vigil.watchlist.alerts import Alert, AlertRepository, Status
from vigil.watchlist.learning import LearningRepository
from vigil.watchlist.repository import NewReference, WatchlistRepository


class NothingToLearn(ConflictError):
    """A confirmation asked to add a reference, but the alert kept no face to add."""


@dataclass(frozen=True)
class DecisionResult:
    alert: Alert
    negatives_learned: int  # faces a rejection turned into negatives
    reference_added: bool  # a confirmation added the alert's face to the references


class AlertDesk:
    def __init__(
        self, alerts: AlertRepository, people: WatchlistRepository, learning: LearningRepository
    ) -> None:
        self.alerts, self.people, self.learning = alerts, people, learning

    def decide(
        self,
        alert_id: uuid.UUID,
        status: Status,
        by: str,
        note: str,
        now: datetime,
        add_reference: bool = False,
    ) -> DecisionResult:
        """Confirms or rejects an open alert (AlertAlreadyDecided when it was decided before)."""
        learned = self.alerts.decide_and_learn(alert_id, status, by, note, now)
        alert = learned.alert
        added = status == "confirmed" and add_reference and self._add_reference(alert)
        return DecisionResult(alert, learned.negatives, added)

    def _add_reference(self, alert: Alert) -> bool:
        face = self.learning.best_face(alert.id)
        crop = cv2.imread(str(self.alerts.crops.resolve(alert.crop_path)))
        if face is None or crop is None:
            raise NothingToLearn(f"alert {alert.id} kept no face to add to {alert.person_name}'s references")
        reference = NewReference(face.vector, face.model, crop, face.quality, "alert")
        self.people.add_references(alert.person_id, [reference])
        return True
