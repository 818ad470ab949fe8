# Vigil — every target sets up what it needs: a fresh machine needs only `make run` / `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES ?= $(or $(VIGIL_SHARED_DIR),../shared)/media/video/hamilton_640x360.mp4

.PHONY: run test lint bench setup system-deps models clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt pyproject.toml
	command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	# supervision/trackers declare opencv-python, which would shadow opencv-contrib-python.
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Debian packages for the real RTSP server used in tests (gst-rtsp-server via python3-gi).
system-deps:
	./scripts/install-system-deps.sh

# Fetch YuNet when online (sha256-checked); offline, Vigil falls back to BlazeFace.
models: $(STAMP)
	$(BIN)/vigil models fetch || echo "YuNet download failed: Vigil uses a local copy (data/models, ../shared/models) if present, else BlazeFace"

# The dashboard on http://127.0.0.1:8000/ with the demo clip as a looping camera.
run: $(STAMP) models
	$(BIN)/vigil serve $(SOURCES) --loop

lint: $(STAMP)
	$(BIN)/ruff check vigil tests bench
	$(BIN)/ruff format --check vigil tests bench
	$(BIN)/mypy

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.live
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.track
	$(BIN)/python -m bench.web

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
