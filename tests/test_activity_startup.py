"""What `vigil activity ...` and `vigil anonymize ...` import before they work: only their own
command, and MediaPipe without matplotlib (its legacy drawing helpers load when used), as every
MediaPipe model does."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import shared_file
from vigil.cli import app


def _run(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def _through_entry(*argv: str) -> str:
    """What `vigil ARGV` prints through vigil.entry, then whether it loaded the whole CLI and the
    live cameras ('LOADED <bool> <bool>')."""
    return _run(
        "import sys\n"
        f"sys.argv = ['vigil', *{list(argv)!r}]\n"
        "from vigil.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'vigil.cli' in sys.modules, 'vigil.live.camera' in sys.modules)\n"
    )


def test_the_activity_commands_start_without_the_rest_of_vigil() -> None:
    printed = _through_entry("activity", "--help")
    assert "LOADED False False" in printed
    full = CliRunner().invoke(app, ["activity", "--help"], terminal_width=100).output
    for command in ("analyse", "train", "eval"):  # the same group as through vigil.cli
        assert f" {command} " in printed and f" {command} " in full


def test_the_anonymize_command_starts_without_the_rest_of_vigil() -> None:
    printed = _through_entry("anonymize", "--help")
    assert "LOADED False False" in printed
    full = CliRunner().invoke(app, ["anonymize", "--help"], terminal_width=100).output
    for option in ("--out-dir", "--faces", "--workers", "--force"):  # the same command as through vigil.cli
        assert option in printed and option in full


def test_other_commands_still_go_through_the_whole_cli() -> None:
    printed = _through_entry("--version")
    assert "LOADED True" in printed


def test_mediapipe_is_imported_without_matplotlib_until_drawing_is_used() -> None:
    printed = _run(
        "import sys\n"
        "from vigil.mediapipe_lazy import import_mediapipe\n"
        "mp = import_mediapipe()\n"
        "from mediapipe.tasks.python import vision\n"
        "print('BEFORE', 'matplotlib' in sys.modules, mp.ImageFormat.SRGB)\n"
        "spec = mp.solutions.drawing_utils.DrawingSpec(color=(1, 2, 3))\n"
        "from mediapipe.python.solutions import drawing_styles\n"
        "style = drawing_styles.get_default_pose_landmarks_style()\n"
        "print('AFTER', 'matplotlib.pyplot' in sys.modules, spec.color, len(style) > 0)\n"
    )
    assert "BEFORE False ImageFormat.SRGB" in printed
    assert "AFTER True (1, 2, 3) True" in printed


def test_a_file_analysis_imports_neither_scikit_learn_nor_the_database_layer() -> None:
    # scikit-learn is for the trained model and the eval's scores; SQLAlchemy/Alembic for the
    # stores: ~1.5 s of a command's start that the rules' analysis of a file never uses.
    printed = _run(
        "import sys\n"
        "from vigil.config import load_settings\n"
        "from vigil.activity.analyse import analyse_file, classifier_for, extract_cues\n"
        "from vigil.activity.parallel import CuePool\n"
        "print('RULES', classifier_for(load_settings()).name)\n"
        "heavy = {'sklearn', 'sqlalchemy', 'alembic'}\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    assert "RULES rules" in printed
    assert "LOADED []" in printed


@pytest.mark.parametrize(
    "start",
    [
        "from vigil.anonymize.segment import PersonSegmenter\nPersonSegmenter()",
        "from vigil.anonymize.hands import HandFinder\nHandFinder()",
        # Made, then its graphs started (they start at the first face otherwise).
        "from vigil.batch.landmarker import FaceLandmarkerRegions\n"
        "FaceLandmarkerRegions(Path(sys.argv[1]))._start()",
        "from vigil.detect.blazeface import BlazeFaceConfig, BlazeFaceDetector\n"
        "BlazeFaceDetector(BlazeFaceConfig())",
    ],
)
def test_the_tracker_and_anonymiser_models_start_without_matplotlib(start: str) -> None:
    """Every MediaPipe model goes through `import_mediapipe`, each checked in a new process (the
    first import decides): the face pass's landmarker, the anonymiser's segmenter and hands, the
    legacy BlazeFace (~1 s of each worker process's start was matplotlib before)."""
    printed = _run(
        f"import sys\nfrom pathlib import Path\n{start}\nprint('STARTED', 'mediapipe' in sys.modules, "
        "'matplotlib' in sys.modules)\n",
        str(shared_file("models/face_landmarker.task")),
    )
    assert "STARTED True False" in printed


def test_threads_reaching_a_deferred_drawing_helper_at_once_all_get_it() -> None:
    printed = _run(
        "import threading\n"
        "from vigil.mediapipe_lazy import import_mediapipe\n"
        "mp = import_mediapipe()\n"
        "barrier, got = threading.Barrier(4), []\n"
        "def use():\n"
        "    barrier.wait()\n"
        "    got.append(mp.solutions.drawing_utils.DrawingSpec(color=(1, 2, 3)).color)\n"
        "threads = [threading.Thread(target=use) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print('GOT', got)\n"
    )
    assert "GOT [(1, 2, 3), (1, 2, 3), (1, 2, 3), (1, 2, 3)]" in printed
