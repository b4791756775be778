#!/usr/bin/env bash
# Builds Seesay.app and dist/Seesay-<version>-macos-<arch>.dmg, on macOS, from the repository
# root, inside the project's .venv (PyPI's torch for macOS: CPU + MPS):
#   bash packaging/macos/build_dmg.sh
# The app is signed ad hoc by PyInstaller, not notarized: on first start users right-click >
# Open (or sign and notarize it with a Developer ID before publishing).
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
[ -x "$py" ] || { echo "build_dmg.sh: no .venv here" >&2; exit 1; }
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(uname -m)

"$py" -c "import PyInstaller" 2>/dev/null || "$py" -m pip install -q -e ".[build]"
# The C++ kernels; without them int4 unpacks with pure torch (same values, slower prefill), so go on.
"$py" packaging/quanto_ext/build_ext.py || echo "build_dmg.sh: WARNING C++ kernels not built"
rm -rf dist/seesay dist/Seesay.app
"$py" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/seesay.spec
[ -x dist/Seesay.app/Contents/MacOS/seesay ] || { echo "build_dmg.sh: Seesay.app was not built" >&2; exit 1; }
codesign --verify --deep --strict dist/Seesay.app

# The disk image: the app and a link to /Applications to drag it onto.
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R dist/Seesay.app "$staging/"
ln -s /Applications "$staging/Applications"
dmg="dist/Seesay-$version-macos-$arch.dmg"
hdiutil create -volname "Seesay $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"
hdiutil verify "$dmg"
du -sh dist/Seesay.app "$dmg"
