"""List the system libraries a one-folder bundle needs from the machine it runs on.

Reads every ELF file's NEEDED entries (readelf), drops those the bundle carries itself, resolves
the rest with ``ldconfig -p`` and names the Debian package that owns each (``dpkg -S``). Use it to
keep the .deb's Depends honest after upgrading Qt, torch or the build machine:

    python3 packaging/linux/system_libs.py dist/seesay [--depends "libc6, libgl1, ..."]

With --depends, exits 1 when a library needed outside Qt's optional plugins comes from a package
not in the list (the NVIDIA driver's libcuda is expected to be missing: it comes with the driver).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# Qt loads plugins on demand and skips one whose libraries are missing; these Qt libraries are
# used only by the Wayland and EGLFS platform plugins (X11 is the fallback on Wayland desktops).
OPTIONAL = ("/plugins/", "/libQt6Wayland", "/libQt6Wl", "/libQt6EglF")
FROM_DRIVER = ("libcuda.so.1",)


def elf_files(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    yield path


def needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\).*\[(.+)\]", out)


def system_index() -> dict[str, str]:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    index = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \((libc6,x86-64|libc6,AArch64)[^)]*\) => (\S+)", line)
        if m:
            index.setdefault(m.group(1), m.group(3))
    return index


def owner(path: str) -> str:
    for candidate in (path, str(Path(path).resolve())):
        out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True).stdout
        if out:
            return out.split(":")[0]
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--depends", help="the .deb's Depends field, to check against")
    args = parser.parse_args()
    files = list(elf_files(args.bundle))
    carried = {p.name for p in args.bundle.rglob("*")}
    users = defaultdict(list)
    for path in files:
        for lib in needed(path):
            if lib not in carried:
                users[lib].append(str(path.relative_to(args.bundle)))
    index = system_index()
    allowed = {re.split(r"[ (]", d.strip())[0] for d in (args.depends or "").split(",") if d.strip()}
    missing = []
    for lib in sorted(users):
        required = [u for u in users[lib] if not any(o in f"/{u}" for o in OPTIONAL)]
        package = owner(index[lib]) if lib in index else "not installed"
        kind = "required" if required else "plugins only"
        print(f"{lib:32} {package:28} {kind:13} e.g. {users[lib][0]}")
        if args.depends and required and lib not in FROM_DRIVER and package not in allowed:
            missing.append(f"{lib} ({package}, for {required[0]})")
    if missing:
        print("system_libs: not covered by Depends:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
