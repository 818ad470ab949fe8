"""YAMNet (521 AudioSet sound classes) through LiteRT, and its classes grouped into `SoundEvents`.

mediapipe 0.10.14's AudioClassifier segfaults with NumPy 2, so the same `yamnet.tflite` runs in
`ai-edge-litert`'s Interpreter: one call scores 15,600 samples (0.975 s) of 16 kHz mono audio.
The class names come from the label file embedded in the model (a .tflite with metadata is also a
zip archive), so they always match the scores' order."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vigil.activity.cues import SoundEvents
from vigil.errors import ModelError
from vigil.native_logs import quiet_native_startup

__all__ = [
    "EVENT_CLASSES",
    "WINDOW_SAMPLES",
    "YAMNET_FILENAME",
    "YamNet",
    "find_yamnet",
    "load_yamnet",
]

YAMNET_FILENAME = "yamnet.tflite"
RATE = 16000
WINDOW_SAMPLES = 15600  # the model's fixed input: 0.975 s at 16 kHz
LABEL_FILE = "yamnet_label_list.txt"
CLASSES = 521

# The AudioSet classes behind each SoundEvents field; a field's score is the max over its classes.
# Names are exactly as in the model's label file (a test checks every one exists).
_MUSIC = (
    # AudioSet's "Music" subtree as YAMNet orders it: instruments, genres, concepts, moods.
    "Music", "Musical instrument", "Plucked string instrument", "Guitar", "Electric guitar",
    "Bass guitar", "Acoustic guitar", "Steel guitar, slide guitar", "Tapping (guitar technique)",
    "Strum", "Banjo", "Sitar", "Mandolin", "Zither", "Ukulele", "Keyboard (musical)", "Piano",
    "Electric piano", "Organ", "Electronic organ", "Hammond organ", "Synthesizer", "Sampler",
    "Harpsichord", "Percussion", "Drum kit", "Drum machine", "Drum", "Snare drum", "Rimshot",
    "Drum roll", "Bass drum", "Timpani", "Tabla", "Cymbal", "Hi-hat", "Wood block", "Tambourine",
    "Rattle (instrument)", "Maraca", "Gong", "Tubular bells", "Mallet percussion",
    "Marimba, xylophone", "Glockenspiel", "Vibraphone", "Steelpan", "Orchestra",
    "Brass instrument", "French horn", "Trumpet", "Trombone", "Bowed string instrument",
    "String section", "Violin, fiddle", "Pizzicato", "Cello", "Double bass",
    "Wind instrument, woodwind instrument", "Flute", "Saxophone", "Clarinet", "Harp", "Bell",
    "Church bell", "Jingle bell", "Bicycle bell", "Tuning fork", "Chime", "Wind chime",
    "Change ringing (campanology)", "Harmonica", "Accordion", "Bagpipes", "Didgeridoo", "Shofar",
    "Theremin", "Singing bowl", "Scratching (performance technique)", "Pop music",
    "Hip hop music", "Beatboxing", "Rock music", "Heavy metal", "Punk rock", "Grunge",
    "Progressive rock", "Rock and roll", "Psychedelic rock", "Rhythm and blues", "Soul music",
    "Reggae", "Country", "Swing music", "Bluegrass", "Funk", "Folk music", "Middle Eastern music",
    "Jazz", "Disco", "Classical music", "Opera", "Electronic music", "House music", "Techno",
    "Dubstep", "Drum and bass", "Electronica", "Electronic dance music", "Ambient music",
    "Trance music", "Music of Latin America", "Salsa music", "Flamenco", "Blues",
    "Music for children", "New-age music", "Vocal music", "A capella", "Music of Africa",
    "Afrobeat", "Christian music", "Gospel music", "Music of Asia", "Carnatic music",
    "Music of Bollywood", "Ska", "Traditional music", "Independent music", "Song",
    "Background music", "Theme music", "Jingle (music)", "Soundtrack music", "Lullaby",
    "Video game music", "Christmas music", "Dance music", "Wedding music", "Happy music",
    "Sad music", "Tender music", "Exciting music", "Angry music", "Scary music",
    # Sung voice is music here (AudioSet files it under Human voice): a song is not a conversation.
    "Singing", "Choir", "Child singing", "Synthetic singing", "Rapping", "Humming", "Yodeling",
)  # fmt: skip
_TELEPHONE = (
    "Telephone", "Telephone bell ringing", "Ringtone", "Telephone dialing, DTMF", "Dial tone",
    "Busy signal",
)  # fmt: skip
EVENT_CLASSES: Mapping[str, tuple[str, ...]] = {
    # one voice speaking (to someone in the room, to a phone, to the camera)
    "speech": ("Speech", "Child speech, kid speaking", "Narration, monologue", "Whispering"),
    # several voices: YAMNet's Conversation plus crowd chatter
    "conversation": ("Conversation", "Chatter", "Hubbub, speech noise, speech babble"),
    "telephone": _TELEPHONE,
    "chewing": ("Chewing, mastication", "Biting"),
    # tableware: knives and forks on plates, plates and pots, glasses clinking
    "cutlery": ("Cutlery, silverware", "Dishes, pots, and pans", "Chink, clink"),
    "snoring": ("Snoring", "Breathing"),
    "music": _MUSIC,
    "tv": ("Television", "Radio"),
    "silence": ("Silence",),
}


def find_yamnet(models_dirs: list[Path]) -> Path | None:
    """The first models directory holding yamnet.tflite (see Settings.model_search_dirs)."""
    for directory in models_dirs:
        if (directory / YAMNET_FILENAME).is_file():
            return directory / YAMNET_FILENAME
    return None


def load_yamnet(models_dirs: list[Path], num_threads: int = 1) -> YamNet:
    path = find_yamnet(models_dirs)
    if path is None:
        searched = ", ".join(str(d) for d in models_dirs)
        raise ModelError(f"{YAMNET_FILENAME} not found in {searched}; run `vigil models fetch yamnet`")
    return YamNet(path, num_threads)


class YamNet:
    """One LiteRT interpreter (not thread-safe: one per analyser or thread)."""

    def __init__(self, path: Path, num_threads: int = 1) -> None:
        # Imported here: `vigil models` and the CLI import this module for its file name only.
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        self.labels = _labels(path)
        try:
            with quiet_native_startup():
                interpreter: Any = Interpreter(model_path=str(path), num_threads=num_threads)
                interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load YAMNet model {path}: {exc}") from exc
        (given,) = interpreter.get_input_details()
        (scored,) = interpreter.get_output_details()
        if list(given["shape"]) != [WINDOW_SAMPLES] or int(scored["shape"][-1]) != CLASSES:
            raise ModelError(f"{path} is not YAMNet: input {given['shape']}, output {scored['shape']}")
        self._interpreter = interpreter
        self._input, self._output = given["index"], scored["index"]
        index = {name: i for i, name in enumerate(self.labels)}
        self._groups = {field: np.array([index[n] for n in names]) for field, names in EVENT_CLASSES.items()}

    def scores(self, window: np.ndarray) -> np.ndarray:
        """The 521 class scores in [0, 1] of one window of 15,600 samples (16 kHz mono, [-1, 1])."""
        if window.shape != (WINDOW_SAMPLES,):
            raise ValueError(f"YAMNet scores {WINDOW_SAMPLES} samples at a time, got {window.shape}")
        self._interpreter.set_tensor(self._input, window.astype(np.float32, copy=False))
        self._interpreter.invoke()
        return np.asarray(self._interpreter.get_tensor(self._output)[0], np.float32).copy()

    def events(self, scores: np.ndarray) -> SoundEvents:
        return SoundEvents(**{field: float(scores[ids].max()) for field, ids in self._groups.items()})

    def top(self, scores: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
        best = np.argsort(scores)[::-1][:k]
        return [(self.labels[i], float(scores[i])) for i in best]


def _labels(path: Path) -> tuple[str, ...]:
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read(LABEL_FILE).decode()
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(f"{path}: no {LABEL_FILE} inside (not the YAMNet model with metadata)") from exc
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    missing = {n for names in EVENT_CLASSES.values() for n in names} - set(labels)
    if len(labels) != CLASSES or missing:
        raise ModelError(f"{path}: unexpected labels ({len(labels)} classes; missing {sorted(missing)})")
    return labels
