#!/usr/bin/env bash
# Installs the Debian packages Vigil's tests need (a real RTSP server, FFmpeg tools, Chromium for
# the browser tests, PortAudio for microphones and a PulseAudio server whose null sink the microphone
# tests capture from).
# Idempotent: does nothing when they are present. Uses sudo when not root.
set -euo pipefail
packages=(gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-bad gstreamer1.0-libav python3-gi ffmpeg chromium
          libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "missing packages ${missing[*]} and no apt-get: install them with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
