"""MediaPipe's C++ start-up chatter is kept off stderr; every other line written there passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(120)


def _stderr_of(script: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=100
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_chatter_dropped_other_lines_pass_and_debug_logs_them() -> None:
    shown = _stderr_of(
        """
        import logging, os, threading
        from vigil.native_logs import quiet_native_startup
        logging.basicConfig(level=logging.DEBUG, format="log: %(message)s")
        with quiet_native_startup():
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
            with quiet_native_startup():  # re-entrant
                os.write(2, b"E0000 something.cc:1] a real error\\n")
            line = b"W0000 x inference_feedback_manager.cc:114] y\\n"
            other = threading.Thread(target=os.write, args=(2, line))
            other.start(); other.join()
        os.write(2, b"after the window\\n")
        """
    )
    lines = shown.splitlines()
    assert "E0000 something.cc:1] a real error" in lines
    assert "after the window" in lines
    assert not any(line.startswith(("INFO: Created", "W0000")) for line in lines), shown
    assert "log: native: INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in lines
    assert "log: native: W0000 x inference_feedback_manager.cc:114] y" in lines


def test_mediapipe_hands_start_and_restart_print_nothing() -> None:
    """The real model: MediaPipe Hands made and restarted as the anonymiser does it (its models load
    in the graph's own threads, after the constructor returns) leave stderr empty of chatter, where
    the same solution made directly prints it."""
    script = """
        import numpy as np
        from vigil.anonymize.hands import HandFinder
        finder = HandFinder(every=1)
        finder.hulls(np.zeros((288, 512, 3), np.uint8))
        finder.reset()
        finder.hulls(np.zeros((288, 512, 3), np.uint8))
        """
    quiet = _stderr_of(script)
    assert "inference_feedback_manager" not in quiet and "XNNPACK" not in quiet, quiet
    direct = _stderr_of(
        """
        import numpy as np
        from vigil.mediapipe_lazy import import_mediapipe
        hands = import_mediapipe().solutions.hands.Hands(static_image_mode=False, model_complexity=0)
        hands.process(np.zeros((288, 512, 3), np.uint8))
        """
    )
    assert "inference_feedback_manager" in direct  # what the filter is for, still printed by MediaPipe
