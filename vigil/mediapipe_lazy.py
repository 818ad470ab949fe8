"""`import mediapipe` without the legacy drawing helpers until something uses them.

`mediapipe/__init__.py` imports `mediapipe.python.solutions`, whose `drawing_utils` imports
`matplotlib.pyplot`: ~1 s of a ~1.5 s import here, paid by every process that runs a MediaPipe
Tasks model (each activity worker process) and used by none of them. `import_mediapipe()` puts
lazy modules for `drawing_utils` and `drawing_styles` in `sys.modules` first: they are executed
(matplotlib included) on their first attribute access, so `mp.solutions.drawing_utils` still
works for whoever wants it."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

__all__ = ["import_mediapipe"]

_SOLUTIONS = "mediapipe.python.solutions"
_LOADING = threading.RLock()  # re-entrant: a module's own code looks up its attributes while it runs
_DRAWING = ("drawing_styles", "drawing_utils")


def import_mediapipe() -> ModuleType:
    """The `mediapipe` package (imported once per process; a no-op after the first call)."""
    if "mediapipe" not in sys.modules:
        _lazy_drawing_modules()
    mediapipe = importlib.import_module("mediapipe")
    solutions = sys.modules.get(_SOLUTIONS)
    for name in _DRAWING:  # `import a.b` of a module already in sys.modules does not bind a.b
        module = sys.modules.get(f"{_SOLUTIONS}.{name}")
        if solutions is not None and module is not None and not hasattr(solutions, name):
            setattr(solutions, name, module)
    return mediapipe


class _Deferred(ModuleType):
    """A module whose code runs on the first access to an attribute it does not have yet (the
    import system's own look-ups, such as `__spec__`, find theirs without running it)."""

    def __getattr__(self, name: str) -> object:
        with _LOADING:  # threads (activity workers) may reach it at once: one runs its code
            if not self.__dict__.get("_vigil_loaded") and not self.__dict__.get("_vigil_loading"):
                spec = self.__spec__
                assert spec is not None and spec.loader is not None
                self.__dict__["_vigil_loading"] = True
                try:
                    spec.loader.exec_module(self)  # the module's code, in this module's namespace
                finally:
                    del self.__dict__["_vigil_loading"]
                self.__dict__["_vigil_loaded"] = True  # only once its code ran to the end
        if name in self.__dict__:
            return self.__dict__[name]
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


def _lazy_drawing_modules() -> None:
    spec = importlib.util.find_spec("mediapipe")  # a top-level spec: nothing is imported
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: the caller's `import mediapipe` says so
    folder = Path(next(iter(spec.submodule_search_locations))) / "python" / "solutions"
    for name in _DRAWING:
        full = f"{_SOLUTIONS}.{name}"
        source = folder / f"{name}.py"
        if full in sys.modules or not source.is_file():
            continue  # another mediapipe layout: imported normally
        module_spec = importlib.util.spec_from_file_location(full, source)
        if module_spec is None:
            continue
        module = _Deferred(full)
        module.__spec__, module.__file__ = module_spec, str(source)
        module.__loader__ = module_spec.loader
        sys.modules[full] = module
