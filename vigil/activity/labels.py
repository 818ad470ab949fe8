"""The activity ids of the API and JSON, and their names in the UI (seed 002's seven + absent);
the French names of the object and sound ids of a cue summary (`vigil.activity.result.cue_summary`),
which the API and JSON keep in English."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Activity", "cue_words", "display_name"]


class Activity(StrEnum):
    ASLEEP = "asleep"
    EATING = "eating"
    READING = "reading"
    ON_PHONE = "on_phone"
    CONVERSATION = "conversation"
    BUSY = "busy"
    INACTIVE = "inactive"
    ABSENT = "absent"


# French names are nouns (or "Au téléphone"): they fit a tile, a legend, a table cell and a
# sentence about "la personne" alike, without a masculine or feminine adjective.
_NAMES: dict[Activity, tuple[str, str]] = {  # (English, French)
    Activity.ASLEEP: ("Asleep", "Sommeil"),
    Activity.EATING: ("Eating at table", "Repas"),
    Activity.READING: ("Reading", "Lecture"),
    Activity.ON_PHONE: ("On the phone", "Au téléphone"),
    Activity.CONVERSATION: ("In conversation", "Conversation"),
    Activity.BUSY: ("Busy", "Activité physique"),
    Activity.INACTIVE: ("Inactive", "Inactivité"),
    Activity.ABSENT: ("Absent", "Absence"),
}

# A cue summary's object groups (features._objects: the COCO classes of cues.NEAR_OBJECTS near the
# person) and sound groups (yamnet.EVENT_CLASSES), in French. English shows the ids themselves.
_FRENCH_OBJECTS: dict[str, str] = {
    "phone": "téléphone portable",  # cell phone
    "book": "livre",
    "food": "nourriture ou vaisselle",  # cup, bowl, fork, knife, spoon, glass, bottle, dishes
    "table": "table",  # dining table
    "bed": "lit ou canapé",
    "laptop": "ordinateur portable ou téléviseur",
}
_FRENCH_SOUNDS: dict[str, str] = {
    "speech": "parole",
    "conversation": "conversation",
    "telephone": "sonnerie de téléphone",  # ringing, ringtone, dialling, dial tone
    "chewing": "mastication",
    "cutlery": "bruit de vaisselle",  # cutlery, dishes, pots and pans, clinking
    "snoring": "ronflement",
    "music": "musique",
    "tv": "télévision ou radio",
}


def display_name(activity: Activity, language: str = "en") -> str:
    english, french = _NAMES[activity]
    return french if language.startswith("fr") else english


def cue_words(language: str = "en") -> dict[str, dict[str, str]]:
    """{"objects": {id: name}, "sounds": {id: name}} for the pages' cue text in `language`; an id
    missing from a map is shown as it is (English)."""
    if not language.startswith("fr"):
        return {"objects": {}, "sounds": {}}
    return {"objects": dict(_FRENCH_OBJECTS), "sounds": dict(_FRENCH_SOUNDS)}
