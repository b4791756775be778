"""Skip locally, fail in CI: a green CI run that skipped the real parts would prove nothing."""

import os
import shutil
import subprocess

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, what: str) -> None:
    """Use instead of pytest.skip for anything a real user meets (X server, microphone, ...)."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"CI needs {what}, and it is missing", pytrace=False)
    pytest.skip(f"{what} is missing")


def need_tool(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    need(not missing, f"the program(s) {', '.join(missing)}")


def pulse_answers() -> bool:
    if not os.environ.get("PULSE_SERVER") or shutil.which("pactl") is None:
        return False
    return subprocess.run(["pactl", "info"], capture_output=True).returncode == 0
