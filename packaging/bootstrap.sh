#!/usr/bin/env bash
# Sets up Seesay's Python environment in ./.venv from a fresh clone (Linux; Debian/Ubuntu for apt).
#   bash packaging/bootstrap.sh          # the app
#   bash packaging/bootstrap.sh test     # the app + test tools
# Installs the system libraries Qt and PortAudio need when run as root on a Debian-like system.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

runtime_pkgs=(libglib2.0-0 libgl1 libegl1 libfontconfig1 libxkbcommon0 libdbus-1-3
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
  libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1 libx11-xcb1 libxcb-randr0 libxcb-shm0
  libxcb-sync1 libxcb-xfixes0 libportaudio2)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${runtime_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
spec=".[kernels${extras:+,$extras}]"
.venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import app, inference, ui, torch, transformers, optimum.quanto, PySide6" \
  || { echo "bootstrap: the environment did not install cleanly" >&2; exit 1; }

# The C++ kernels (int4 prefill and decoding; ~1 min the first time, then cached in build/quanto_ext).
# Seesay runs without them, only with slower int4, so a machine without a compiler goes on.
if command -v c++ >/dev/null || command -v g++ >/dev/null; then
  .venv/bin/python packaging/quanto_ext/build_ext.py 2>&1 | grep -v "No CUDA runtime is found" \
    || echo "bootstrap: the C++ kernels did not build; int4 will be slower" >&2
else
  echo "bootstrap: no C++ compiler; skipping the C++ kernels (int4 will be slower)" >&2
fi
echo "bootstrap: .venv ready"
