"""The activity ids of the API and JSON, and their names in the UI (seed 002's seven + absent)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Activity", "display_name"]


class Activity(StrEnum):
    ASLEEP = "asleep"
    EATING = "eating"
    READING = "reading"
    ON_PHONE = "on_phone"
    CONVERSATION = "conversation"
    BUSY = "busy"
    INACTIVE = "inactive"
    ABSENT = "absent"


_NAMES: dict[Activity, tuple[str, str]] = {  # (English, French as in the seed)
    Activity.ASLEEP: ("Asleep", "Endormi"),
    Activity.EATING: ("Eating at table", "À table"),
    Activity.READING: ("Reading", "Lisant"),
    Activity.ON_PHONE: ("On the phone", "Au téléphone"),
    Activity.CONVERSATION: ("In conversation", "En conversation"),
    Activity.BUSY: ("Busy", "Occupé"),
    Activity.INACTIVE: ("Inactive", "Inactif"),
    Activity.ABSENT: ("Absent", "Absent"),
}


def display_name(activity: Activity, language: str = "en") -> str:
    english, french = _NAMES[activity]
    return french if language.startswith("fr") else english
