#!/usr/bin/env bash
# Serve a video file as a looping RTSP camera (seed 004's script): installs what it needs first.
# Usage: scripts/simulate_rtsp.sh [FILE] [vigil simulate-rtsp options, e.g. --port 8554 --path stream]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup system-deps
file="${1:-${VIGIL_SHARED_DIR:-../shared}/media/video/hamilton_640x360.mp4}"
shift || true
exec .venv/bin/vigil simulate-rtsp "$file" --loop "$@"
