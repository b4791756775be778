#!/usr/bin/env bash
# Real desktop parts for the tests on a headless Debian machine (run as root, `source` it):
# apt packages for X, audio and speech, and a private PulseAudio whose null sink "testmic"
# (16 kHz mono) is the default capture source: what `paplay --device=testmic x.wav` plays is what
# the app records. Xvfb itself is started by tests/conftest.py, one per test session.
# Exports PULSE_SERVER and TEST_MIC_SINK.

_seesay_desktop_env() {
  local state="${SEESAY_TEST_STATE:-/tmp/seesay-test-env}"
  local pulse_dir="$state/pulse"
  mkdir -p "$pulse_dir" && chmod 700 "$state" "$pulse_dir"
  local pkgs=(xvfb xauth xdotool libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins
    espeak-ng sox gcc linux-libc-dev dpkg-dev dbus-daemon)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    local missing=() p
    for p in "${pkgs[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
      echo "desktop-env: apt-get install ${missing[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || return 1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >"$state/apt.log" 2>&1 || { tail -20 "$state/apt.log"; return 1; }
    fi
  fi
  command -v pulseaudio >/dev/null || { echo "desktop-env: no pulseaudio; mic tests will not run"; return 0; }

  export PULSE_SERVER="unix:$pulse_dir/native"
  export TEST_MIC_SINK=testmic
  if ! pactl info >/dev/null 2>&1; then
    rm -f "$pulse_dir/native"
    XDG_RUNTIME_DIR="$state" pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 \
      --disallow-exit -n --use-pid-file=yes --log-target="file:$state/pulse.log" \
      --load="module-native-protocol-unix socket=$pulse_dir/native auth-anonymous=1" \
      --load="module-null-sink sink_name=testmic rate=16000 channels=1 format=s16le" \
      --load="module-null-sink sink_name=speaker" \
      || { echo "desktop-env: pulseaudio failed"; tail "$state/pulse.log"; return 1; }
    local i
    for i in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
    pactl set-default-source testmic.monitor && pactl set-default-sink speaker || return 1
  fi
  # One permanent reader keeps the null sink running: without it a process's first input stream
  # starts up to 2 s late and loses the start of what is played.
  if ! { [ -f "$state/parec.pid" ] && kill -0 "$(cat "$state/parec.pid")" 2>/dev/null; }; then
    parec -d testmic.monitor --latency-msec=20 --raw >/dev/null 2>&1 &
    echo $! >"$state/parec.pid"
    disown 2>/dev/null || true
  fi
  echo "desktop-env: PulseAudio at $PULSE_SERVER, virtual microphone '$TEST_MIC_SINK'"
}
_seesay_desktop_env
