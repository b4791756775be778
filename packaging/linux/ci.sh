#!/usr/bin/env bash
# CI: build the Linux installers and check the .deb end to end; .ci/run calls it after the tests.
#   bash packaging/linux/ci.sh
# About 8-10 min on 2 cores: quanto extension ~1 min (cached in build/), PyInstaller 3-5 min,
# .deb (zstd -3) ~20 s, .tar.gz (pigz -6) ~1.5 min, verify ~2 min. Needs root and ~15 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
bash packaging/linux/build.sh
bash packaging/linux/verify.sh
echo "ci.sh: Linux installers built and verified in $((SECONDS - started)) s"
