"""The microphone chosen at run time (POST /api/set-audio-device), kept across restarts in
`<data_dir>/audio_device.json` (0600). A file in the data directory rather than a database row:
devices belong to the machine that runs the server, while the database may be shared by several.
The name is what counts on reading: PortAudio's indexes change when devices come and go."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from vigil.activity.microphone import DeviceSelector
from vigil.private_files import replace_private_file

__all__ = ["AudioDeviceChoice", "choice_path", "load_choice", "save_choice", "selected_device"]

log = logging.getLogger(__name__)
FILE_NAME = "audio_device.json"


@dataclass(frozen=True)
class AudioDeviceChoice:
    index: int
    name: str


def choice_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def load_choice(data_dir: Path) -> AudioDeviceChoice | None:
    """The saved choice; None when none was made (or the file is unreadable: logged)."""
    path = choice_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return AudioDeviceChoice(index=int(raw["index"]), name=str(raw["name"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the saved audio device in %s: %s", path, exc)
        return None


def save_choice(data_dir: Path, choice: AudioDeviceChoice) -> None:
    """Written to a 0600 temporary file then renamed: a crash never leaves half a file."""
    replace_private_file(choice_path(data_dir), json.dumps(asdict(choice)).encode())


def selected_device(data_dir: Path, configured: DeviceSelector) -> DeviceSelector:
    """What live capture opens: the saved choice's name, else `activity.audio_device`."""
    choice = load_choice(data_dir)
    return choice.name if choice is not None else configured
