# Vigil: one image for the server (`vigil serve`), the Ray head and the Ray worker nodes
# (docker-compose.yml, docs/deploy.md). Build: docker build -t vigil:latest .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/vigil/venv/bin:$PATH \
    XDG_DATA_HOME=/opt/vigil/share

# Shared libraries the wheels load that python:3.11-slim lacks: libGL and GLib for OpenCV
# (mediapipe's opencv-contrib-python is not the headless build), PortAudio for microphones (as
# scripts/install-system-deps.sh installs it); make runs the Makefile's `models` target; curl is
# the HEALTHCHECK's client. No ffmpeg package: PyAV's wheel carries its own FFmpeg libraries and
# Vigil never runs the ffmpeg program (the script installs it for the tests' tools only).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libgl1 libglib2.0-0 libportaudio2 make curl \
    && rm -rf /var/lib/apt/lists/*

# Fixed ids: the data and media volumes are shared by every container and, on a real cluster,
# by every machine (NFS), so the owner must be the same number everywhere.
RUN groupadd --system --gid 10001 vigil \
    && useradd --system --uid 10001 --gid vigil --home-dir /srv/vigil --shell /usr/sbin/nologin vigil

WORKDIR /opt/vigil/src

# The pinned dependencies, as `make setup` installs them (requirements-nodeps.txt with --no-deps:
# one cv2, no torch; docs/architecture.md "Packaging"), without requirements-dev.txt (tests and
# linters). In their own layer, rebuilt only when a pin changes.
COPY requirements.txt requirements-nodeps.txt ./
RUN python3.11 -m venv /opt/vigil/venv \
    && /opt/vigil/venv/bin/pip install --quiet --upgrade pip \
    && /opt/vigil/venv/bin/pip install --quiet -r requirements.txt \
    && /opt/vigil/venv/bin/pip install --quiet --no-deps -r requirements-nodeps.txt

COPY requirements-dev.txt pyproject.toml README.md Makefile ./
COPY vigil ./vigil
RUN /opt/vigil/venv/bin/pip install --quiet --no-deps -e .

# Model files at build time, by the Makefile's own `models` target (dlib's descriptor exported
# as ONNX, then `vigil models fetch` for YuNet, the Face Landmarker and the activity models,
# sha256-checked, from their official URLs): into $XDG_DATA_HOME/vigil/models, the same path in
# every container of this image, so a Ray worker finds what the server planned with. The stamp
# tells make that this venv is set up (runtime requirements only: `make test` is not for this
# image). `vigil models status` prints what is installed in the build log.
RUN touch /opt/vigil/venv/.installed \
    && make models VENV=/opt/vigil/venv \
    && vigil models status

# /srv/vigil: the working directory (relative paths in API requests resolve here) and the mount
# points of the data and media volumes.
RUN mkdir -p /srv/vigil/data /srv/vigil/media && chown -R vigil:vigil /srv/vigil
WORKDIR /srv/vigil
USER vigil

ENV VIGIL_DATA_DIR=/srv/vigil/data \
    VIGIL_WEB__HOST=0.0.0.0 \
    VIGIL_WEB__PORT=8000

# 8000: dashboard and API. 6379: the Ray head (GCS); the other Ray ports are set in compose.
EXPOSE 8000 6379

# The server's liveness route (no authentication). The Ray services of docker-compose.yml
# replace this check with their own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${VIGIL_WEB__PORT}/api/health" || exit 1

CMD ["vigil", "serve"]
