#!/usr/bin/env bash
# CI check of the Linux installers (run as root, from the repository root, after build.sh):
#   bash packaging/linux/verify.sh [--keep]
# Installs dist/seesay_<version>_amd64.deb with apt, checks the layout, then runs the installed
# `seesay --self-test MODEL_DIR` on a tiny random checkpoint as an unprivileged user, in a bare
# environment (env -i), without network (unshare -n), under Xvfb; expects exit 0. Measures the
# time to a visible window when the app offers --print-startup-time. Removes the package at the
# end (--keep leaves it installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
keep=${1:-}
started=$SECONDS
say() { printf 'verify.sh [%4ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() { echo "verify.sh: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (apt-get install, unshare -n)"
version=$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
deb="$PWD/dist/seesay_${version}_amd64.deb"
tarball="dist/seesay-$version-linux-x86_64.tar.gz"
[ -f "$deb" ] || fail "$deb is missing: run packaging/linux/build.sh"

need=()
command -v xvfb-run >/dev/null || need+=(xvfb xauth)
command -v desktop-file-validate >/dev/null || need+=(desktop-file-utils)
command -v xdotool >/dev/null || need+=(xdotool)
command -v pgrep >/dev/null || need+=(procps)
if [ "${#need[@]}" -gt 0 ]; then
  say "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

say "apt-get install $(basename "$deb")"
install_deb() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall --allow-downgrades "$deb" >/dev/null 2>build/apt.log
}
install_deb || { apt-get update -q >/dev/null && install_deb; } || { cat build/apt.log >&2; fail "apt could not install the .deb"; }

say "layout"
[ "$(readlink /usr/bin/seesay)" = "../../opt/seesay/seesay" ] || fail "/usr/bin/seesay is not the relative link"
[ -x /opt/seesay/seesay ] || fail "/opt/seesay/seesay is not executable"
unreadable=$(find /opt/seesay ! -perm -o+r -print -quit)
[ -z "$unreadable" ] || fail "$unreadable is not readable by other users"
[ "$(stat -c %U /opt/seesay/seesay)" = root ] || fail "the installed files are not owned by root"
desktop-file-validate /usr/share/applications/seesay.desktop || fail "seesay.desktop does not validate"
[ -f /usr/share/icons/hicolor/256x256/apps/seesay.png ] || fail "the 256 px icon is missing"

say "tiny checkpoint"
work=$(mktemp -d /tmp/seesay-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
.venv/bin/python -c "import sys; from tests.tiny_checkpoint import build_tiny_checkpoint; \
build_tiny_checkpoint(sys.argv[1])" "$work/models" >/dev/null 2>&1 || fail "could not build the tiny checkpoint"
chmod -R a+rX "$work/models"
model=$(find "$work/models" -mindepth 1 -maxdepth 1 -type d ! -name "*-assistant" | head -1)
mkdir -p "$work/home" && chown nobody: "$work/home"

# The installed program, as `nobody`, no network, nothing from this shell's environment, on a
# fresh Xvfb. xvfb-run ends its server with a kill it does not wait for, so each call first waits
# for the previous server to be gone: two never overlap. Their own messages go to
# $work/home/xvfb.log, shown when a step fails (one CI run's app once could not load the xcb
# plugin right after the self-test had, and left no trace of why).
as_user() {
  for _ in $(seq 100); do pgrep -u nobody -x Xvfb >/dev/null || break; sleep 0.1; done
  unshare -n setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env -i PATH=/usr/bin:/bin HOME="$work/home" LANG=C.UTF-8 \
    timeout 600 xvfb-run -a -e "$work/home/xvfb.log" -s "-nolisten tcp -screen 0 1280x800x24" "$@"
}
xvfb_log() { [ -s "$work/home/xvfb.log" ] && sed 's/^/  xvfb | /' "$work/home/xvfb.log" | tail -20; true; }

say "self-test: seesay --self-test $model"
set +e
as_user seesay --self-test "$model" > "$work/self-test.log" 2>&1
rc=$?
set -e
sed 's/^/  | /' "$work/self-test.log" | grep -v "Loading weights" | tail -25
[ "$rc" = 0 ] || { xvfb_log; fail "seesay --self-test exited with $rc"; }
if grep -q "quanto_cpp: pure-torch" "$work/self-test.log"; then
  fail "the installed app did not load its prebuilt quanto extension"
fi
grep -q "int4 unpack: prebuilt" "$work/self-test.log" || fail "the installed app did not load its int4 unpack kernel"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then  # both kernels run on AVX2 and AVX-512 CPUs
  grep -q "int4 x int8: prebuilt" "$work/self-test.log" || fail "the installed app did not load its int4 x int8 kernel"
  grep -q "head: prebuilt" "$work/self-test.log" || fail "the installed app did not load its bf16 head kernel"
fi

# Time from exec to a mapped "Seesay" window, seen from outside (xdotool polls the X server every
# 20 ms), three starts in one Xvfb session. With --print-startup-time the app prints its own
# figure too. Each start is ended by its process id.
cat > "$work/startup.sh" <<'SH'
flag=$(seesay --help 2>/dev/null | grep -o -- "--print-startup-time" | head -1)
for run in 1 2 3; do
  t0=$(date +%s.%N)
  seesay $flag > "$HOME/startup-$run.log" 2>&1 &
  pid=$!
  for _ in $(seq 3000); do
    xdotool search --onlyvisible --name "^Seesay$" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  t1=$(date +%s.%N)
  if kill -0 "$pid" 2>/dev/null; then
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  start %d: window mapped after %.2f s", '"$run"', b - a }'
    sleep 0.3  # let the app print its own figure
    echo "  $(grep -m1 "visible" "$HOME/startup-$run.log" | sed 's/^/(app: /; s/$/)/')"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  else
    echo "  start $run: the app exited before showing a window"; sed 's/^/  | /' "$HOME/startup-$run.log"
    grep -q "could not connect to display" "$HOME/startup-$run.log" && exit 2  # the X server, not the app
    exit 1
  fi
done
exit 0
SH
chmod 0755 "$work/startup.sh"
say "time from exec to visible window"
set +e
as_user sh "$work/startup.sh"
rc=$?
if [ "$rc" = 2 ]; then  # Xvfb was unreachable: show its log, then measure once more on a new one
  xvfb_log
  say "the virtual display was unreachable; once more on a new Xvfb"
  as_user sh "$work/startup.sh"
  rc=$?
fi
set -e
[ "$rc" = 0 ] || { xvfb_log; fail "the installed app did not show its window"; }

if [ -f "$tarball" ]; then
  say "tarball"
  gz=gzip; command -v pigz >/dev/null && gz=pigz
  "$gz" -dc "$tarball" | tar -t > "$work/tarball.list" || fail "$tarball is damaged"
  grep -qx "seesay/seesay" "$work/tarball.list" || fail "$tarball does not hold seesay/seesay"
fi

say "sizes"
echo "  bundle (installed /opt/seesay): $(du -sh /opt/seesay | cut -f1)"
echo "  .deb:    $(ls -sh "$deb" | cut -d' ' -f1)"
[ -f "$tarball" ] && echo "  .tar.gz: $(ls -sh "$tarball" | cut -d' ' -f1)"

if [ "$keep" != "--keep" ]; then
  say "apt-get remove seesay"
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -q seesay >/dev/null
  [ ! -e /opt/seesay ] && [ ! -e /usr/bin/seesay ] || fail "apt-get remove left files behind"
fi
say "OK"
