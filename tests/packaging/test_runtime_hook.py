"""packaging/runtime_hooks/after_import.py, run the way PyInstaller runs it: before the app's code,
in a fresh interpreter whose sys._MEIPASS points at a fake bundle. (Loading a shipped library is
covered by tests/inference/test_quant_kernels.py and, frozen, by packaging/linux/verify.sh.)"""

import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "packaging" / "runtime_hooks" / "after_import.py"

PROBE = """
import json, sys
sys.frozen, sys._MEIPASS = True, sys.argv[1]
exec(compile(open(sys.argv[2]).read(), sys.argv[2], "exec"), {"__name__": "__main__"})
before = sorted(m for m in ("torch", "optimum.quanto") if m in sys.modules)
import torch
from optimum.quanto.library.extensions.extension import _extensions
lib = _extensions["quanto_cpp"]._lib
print(json.dumps({
    "imported_by_hook": before,
    "cudnn": torch.backends.cudnn.enabled,
    "cudnn_sdp": torch.backends.cuda.cudnn_sdp_enabled(),
    "quanto_lib": getattr(lib, "__file__", type(lib).__name__),
}))
"""


def run_probe(bundle: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(bundle), str(HOOK)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_hook_imports_nothing_heavy_and_prepares_quanto_on_import(tmp_path):
    (tmp_path / "quanto_ext").mkdir()  # an empty bundle folder: no prebuilt library shipped
    result = run_probe(tmp_path)
    assert result["imported_by_hook"] == []  # torch waits for the app: the window comes first
    # Prepared as soon as quanto was imported (left alone, quanto's lib stays None until its first
    # int4 unpack, then compiles): pure torch here, or a build quanto left in site-packages.
    assert result["quanto_lib"] == "_PureTorchLib" or result["quanto_lib"].endswith("quanto_cpp.so")
    assert result["cudnn"] is True  # this bundle did not leave cuDNN out


def test_cudnn_is_switched_off_when_its_sublibraries_were_left_out(tmp_path):
    lib = tmp_path / "nvidia" / "cudnn" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcudnn.so.9").write_bytes(b"")  # the loader stays, libcudnn_*.so.9 were dropped
    result = run_probe(tmp_path)
    assert result["cudnn"] is False and result["cudnn_sdp"] is False
    assert torch.backends.cudnn.enabled  # only the probed process changed
