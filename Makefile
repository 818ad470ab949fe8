# Vigil — every target sets up what it needs: a fresh machine needs only `make run` / `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED := $(or $(VIGIL_SHARED_DIR),../shared)
SOURCES ?= $(SHARED)/media/video/hamilton_640x360.mp4
YUNET_FILE := face_detection_yunet_2023mar.onnx
LANDMARKER_FILE := face_landmarker.task
ACTIVITY_MODELS := pose_landmarker_full:pose_landmarker_full.task hand_landmarker:hand_landmarker.task \
	coco_ssd_mobilenet:coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite yamnet:yamnet.tflite

.PHONY: run test lint bench setup system-deps models vendor clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt pyproject.toml
	command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	# trackers declares opencv-python, a second cv2 next to mediapipe's opencv-contrib-python:
	# --no-deps keeps one (its other dependencies are pinned in requirements.txt).
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Debian packages for the real RTSP server used in tests (gst-rtsp-server via python3-gi).
system-deps:
	./scripts/install-system-deps.sh

# Install YuNet and the MediaPipe Face Landmarker (vigil track's default engine) into the per-user
# models dir (~/.local/share/vigil/models), sha256-checked: from the shared copy when there is one
# (offline), else from the official URL; without YuNet, BlazeFace; without the Face Landmarker,
# vigil track uses FaceMesh and geometric blendshapes.
# vigil activity's models follow the same path. Export dlib's face descriptor there as ONNX, offline from the pip-installed weights.
models: $(STAMP)
	$(BIN)/python -m vigil.embed.dlib_export
	if [ -f "$(SHARED)/models/$(YUNET_FILE)" ]; then \
		$(BIN)/vigil models fetch yunet --url "file://$(abspath $(SHARED))/models/$(YUNET_FILE)"; \
	else \
		$(BIN)/vigil models fetch yunet || echo "YuNet download failed: Vigil falls back to BlazeFace"; \
	fi
	if [ -f "$(SHARED)/models/$(LANDMARKER_FILE)" ]; then \
		$(BIN)/vigil models fetch face_landmarker --url "file://$(abspath $(SHARED))/models/$(LANDMARKER_FILE)"; \
	else \
		$(BIN)/vigil models fetch face_landmarker || echo "Face Landmarker download failed: vigil track uses geometric blendshapes"; \
	fi
	# vigil activity's models (pose, hands, COCO objects, YAMNet sound events), same way.
	for pair in $(ACTIVITY_MODELS); do \
		name=$${pair%%:*}; file=$${pair#*:}; \
		if [ -f "$(SHARED)/models/$$file" ]; then \
			$(BIN)/vigil models fetch $$name --url "file://$(abspath $(SHARED))/models/$$file"; \
		else \
			$(BIN)/vigil models fetch $$name || echo "$$name download failed: vigil activity needs it"; \
		fi; \
	done

# Chart.js for the dashboard's charts, from the npm registry, sha256-checked (kept when it matches).
vendor:
	./scripts/vendor-web.sh

# The dashboard on http://127.0.0.1:8000/ with the demo clip as a looping camera.
run: $(STAMP) models
	$(BIN)/vigil serve $(SOURCES) --loop

lint: $(STAMP)
	$(BIN)/ruff check vigil tests bench
	$(BIN)/ruff format --check vigil tests bench
	$(BIN)/mypy

# The 25 slowest tests are listed at the end: the suite is kept under ~30 minutes.
test: $(STAMP) system-deps models vendor lint
	$(BIN)/python -m pytest -q --durations=25

bench: $(STAMP)
	$(BIN)/python -m bench.live
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.track
	$(BIN)/python -m bench.web

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
