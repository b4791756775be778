#!/usr/bin/env bash
# Builds Seesay's Linux installers, from the repository root, inside the project's .venv:
#   bash packaging/linux/build.sh
# Writes dist/seesay/ (the one-folder app), dist/seesay_<version>_amd64.deb (zstd -3) and
# dist/seesay-<version>-linux-x86_64.tar.gz (SEESAY_TARBALL=0 skips it). Build on the oldest
# distribution to support: the bundle carries this machine's libstdc++ and needs its glibc.
set -euo pipefail
cd "$(dirname "$0")/../.."
umask 022
py=.venv/bin/python
[ -x "$py" ] || { echo "build.sh: no .venv here; run: bash packaging/bootstrap.sh" >&2; exit 1; }
started=$SECONDS
say() { printf 'build.sh [%4ds] %s\n' "$((SECONDS - started))" "$*"; }

# Libraries the bundle does not carry (packaging/linux/system_libs.py lists them) + what the app
# loads by name at run time: PortAudio's ALSA configuration (libasound2 brings libasound2-data).
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')  # the bundle needs this machine's glibc or newer
DEPENDS="libc6 (>= $glibc), libgl1, libegl1, libxcb1, libfontconfig1, libxkbcommon0, libxkbcommon-x11-0, libdbus-1-3, libasound2"
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

# --- tools
"$py" -c "import PyInstaller" 2>/dev/null || "$py" -m pip install -q -e ".[build]"
need=()
command -v readelf >/dev/null || need+=(binutils)
command -v pigz >/dev/null || need+=(pigz)
command -v g++ >/dev/null || need+=(g++)
if [ "${#need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi

# --- quanto's CPU extension, compiled here so the app never needs a compiler (cached in build/)
say "C++ kernels"
"$py" packaging/quanto_ext/build_ext.py 2>&1 | grep -v "No CUDA runtime is found" || true
for lib in quanto_cpp seesay_int4 seesay_int4_int8 seesay_bf16_gemv; do
  [ -f "build/quanto_ext/$lib.so" ] || { echo "build.sh: the $lib kernel did not build" >&2; exit 1; }
done

# --- the one-folder app
say "pyinstaller (a few minutes)"
rm -rf dist/seesay
"$py" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/seesay.spec > build/pyinstaller.log 2>&1 \
  || { tail -40 build/pyinstaller.log >&2; echo "build.sh: PyInstaller failed (build/pyinstaller.log)" >&2; exit 1; }
grep -E "seesay.spec:" build/pyinstaller.log || true
[ -x dist/seesay/seesay ] || { echo "build.sh: dist/seesay/seesay is missing" >&2; exit 1; }
python3 packaging/linux/system_libs.py dist/seesay --depends "$DEPENDS" > build/system_libs.txt \
  || { cat build/system_libs.txt >&2; echo "build.sh: Depends misses a library (above)" >&2; exit 1; }

# --- .deb: /opt/seesay, /usr/bin/seesay -> ../../opt/seesay/seesay, menu entry, icons
say ".deb"
root=build/deb-root
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications"
chmod 0755 "$root"  # a root made by mktemp -d is 0700: the installed tree would be unreadable
cp -al dist/seesay "$root/opt/seesay" 2>/dev/null || cp -a dist/seesay "$root/opt/seesay"
chmod -R u+rwX,go+rX,go-w "$root/opt/seesay"
ln -s ../../opt/seesay/seesay "$root/usr/bin/seesay"
install -m 0644 packaging/linux/deb/seesay.desktop "$root/usr/share/applications/seesay.desktop"
for size in 16 24 32 48 64 128 256 512; do
  install -D -m 0644 "assets/icons/seesay-$size.png" "$root/usr/share/icons/hicolor/${size}x$size/apps/seesay.png"
done
install -m 0755 packaging/linux/deb/postinst packaging/linux/deb/postrm "$root/DEBIAN/"
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_kb/" -e "s/@DEPENDS@/$DEPENDS/" \
  packaging/linux/deb/control > "$root/DEBIAN/control"
deb="dist/seesay_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zzstd -z3 --build "$root" "$deb.part" >/dev/null
mv "$deb.part" "$deb"
rm -rf "$root"

# --- plain tarball of the folder
tarball="dist/seesay-$version-linux-x86_64.tar.gz"
if [ "${SEESAY_TARBALL:-1}" != 0 ]; then
  say ".tar.gz"
  gz=gzip; command -v pigz >/dev/null && gz=pigz
  tar -C dist --owner=0 --group=0 --numeric-owner -cf - seesay | "$gz" -6 > "$tarball.part"
  mv "$tarball.part" "$tarball"
fi

say "done"
du -sh dist/seesay | sed 's/^/  bundle   /'
ls -sh "$deb" | sed 's/^/  .deb     /'
[ -f "$tarball" ] && ls -sh "$tarball" | sed 's/^/  .tar.gz  /'
exit 0
