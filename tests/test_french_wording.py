"""The French wording of the activity and anonymise pages: activity names that agree with "la
personne" (nouns), French names for every object and sound id a cue summary can hold (the API keeps
the English ids), the no-break space French puts before %, and a status that agrees with
its subject. The pages themselves are checked in Chromium by tests/test_activity_pages_e2e.py,
tests/test_web_activity_e2e.py and tests/test_web_anonymize_e2e.py."""

from __future__ import annotations

from dataclasses import fields

from vigil.activity.features import WindowFeatures
from vigil.activity.labels import Activity, cue_words, display_name
from vigil.activity.result import cue_summary
from vigil.web.i18n import number_formatter, translator

FRENCH = {
    Activity.ASLEEP: "Sommeil", Activity.EATING: "Repas", Activity.READING: "Lecture",
    Activity.ON_PHONE: "Au téléphone", Activity.CONVERSATION: "Conversation",
    Activity.BUSY: "Activité physique", Activity.INACTIVE: "Inactivité", Activity.ABSENT: "Absence",
}  # fmt: skip
NBSP = "\u00a0"


def _every_cue_id() -> tuple[list[str], list[str]]:
    """The objects and sounds of a window where every cue is at its highest: all the ids."""
    summary = cue_summary([WindowFeatures(**{f.name: 1.0 for f in fields(WindowFeatures)})])
    return summary.objects, summary.sounds


def test_french_activity_names_are_nouns_and_english_ones_unchanged() -> None:
    assert {a: display_name(a, "fr") for a in Activity} == FRENCH
    assert [display_name(a) for a in Activity] == [
        "Asleep", "Eating at table", "Reading", "On the phone", "In conversation", "Busy", "Inactive",
        "Absent",
    ]  # fmt: skip
    help_text = translator("fr")("act.help")
    assert "endormie" not in help_text and "sommeil, repas, lecture" in help_text


def test_every_object_and_sound_of_a_cue_summary_has_a_french_name() -> None:
    objects, sounds = _every_cue_id()
    assert objects == ["phone", "book", "food", "table", "bed", "laptop"]
    assert sounds == ["speech", "conversation", "telephone", "chewing", "cutlery", "snoring", "music", "tv"]
    french = cue_words("fr")
    assert set(french["objects"]) == set(objects) and set(french["sounds"]) == set(sounds)
    assert french["objects"]["phone"] == "téléphone portable" and french["objects"]["book"] == "livre"
    assert french["sounds"]["speech"] == "parole" and french["sounds"]["tv"] == "télévision ou radio"
    # English shows the ids as they are: nothing to map.
    assert cue_words("en") == {"objects": {}, "sounds": {}}


def test_percent_spacing_and_the_anonymise_status() -> None:
    english, french = translator("en"), translator("fr")
    assert english("common.percent", value=40) == "40%"
    assert french("common.percent", value=40) == f"40{NBSP}%"
    assert french("anon.running") == "Anonymisation…"
    assert french("anon.done") == "Anonymisation terminée."
    assert french("anon.cancelled") == "Anonymisation annulée."
    assert english("anon.done") == "Done."
    assert (french("act.done"), french("act.cancelled")) == ("Analyse terminée.", "Analyse annulée.")


def test_numbers_in_the_page_language() -> None:
    """The templates' `number()` (frame rates on the live, cameras and system pages)."""
    assert number_formatter("fr")(33.649) == "33,6" and number_formatter("fr")(5, 2) == "5,00"
    assert number_formatter("en")(33.649) == "33.6" and number_formatter("en")(4.96) == "5.0"
