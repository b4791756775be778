"""Check a model folder before anything heavy is loaded: right model, complete, undamaged.

Reads only small files and each shard's safetensors header, so checking a 24 GB snapshot takes
milliseconds and no torch. ``verify_model`` / ``verify_assistant`` raise the first problem that
stops the model from loading (its message names the file and the fix); ``check_model`` /
``check_assistant`` collect every problem, for a settings page to list.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from inference.errors import (
    ModelCorrupt, ModelError, ModelIncomplete, ModelNotFound, UnsupportedCheckpoint, WrongModelType,
)
from inference.locate import ASSISTANT_SUFFIX, MODEL_REPO, snapshot_repo
from inference.safetensors_header import HeaderError, SafetensorsHeader, read_header
from inference.sizes import human_size

MODEL_TYPE = "gemma4_unified"
ASSISTANT_TYPE = "gemma4_unified_assistant"
ASSISTANT_REPO = MODEL_REPO + ASSISTANT_SUFFIX
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_REDOWNLOAD = "download it again"


@dataclass
class ModelReport:
    """What verification learned about a model folder; enough to plan memory and key caches."""

    path: Path
    model_type: str
    revision: str  # the cache's commit hash, or a fingerprint of config + shard names/sizes/times
    tensors: dict[str, tuple[str, tuple[int, ...]]]  # name -> (safetensors dtype, shape)
    total_bytes: int  # bytes of tensor data on disk
    problems: list[str] = field(default_factory=list)  # warnings that do not stop loading
    config: dict = field(default_factory=dict, repr=False)
    shards: list[str] = field(default_factory=list)
    repo_id: str | None = None  # set when the folder is a snapshot in the Hugging Face cache

    @property
    def name(self) -> str:
        return self.repo_id.split("/")[-1] if self.repo_id else self.path.name

    @property
    def text_config(self) -> dict:
        return self.config.get("text_config") or {}


def verify_model(path: Path) -> ModelReport:
    """Raise the first problem that would stop ``path`` from loading as Seesay's model."""
    return _raise_first(*_inspect(Path(path), assistant=False))


def verify_assistant(path: Path, model: ModelReport | None = None) -> ModelReport:
    """Like verify_model, for the drafter; with ``model``, also check it drafts for that model."""
    report, fatal, warnings = _inspect(Path(path), assistant=True)
    if report is not None and model is not None:
        fatal += _pair_problems(model, report)
    return _raise_first(report, fatal, warnings)


def check_model(path: Path) -> tuple[ModelReport | None, list[str]]:
    """Every problem found, fatal ones first; the report is None unless the model can load."""
    return _collect(*_inspect(Path(path), assistant=False))


def check_assistant(path: Path, model: ModelReport | None = None) -> tuple[ModelReport | None, list[str]]:
    report, fatal, warnings = _inspect(Path(path), assistant=True)
    if report is not None and model is not None:
        fatal += _pair_problems(model, report)
    return _collect(report, fatal, warnings)


def _raise_first(report, fatal: list[ModelError], warnings: list[str]) -> ModelReport:
    if fatal:
        raise fatal[0]
    return report


def _collect(report, fatal: list[ModelError], warnings: list[str]):
    return (None if fatal else report), [str(e) for e in fatal] + warnings


def _inspect(path: Path, assistant: bool) -> tuple[ModelReport | None, list[ModelError], list[str]]:
    if not path.is_dir():
        return None, [ModelNotFound(f"No model at {path}: the folder does not exist.")], []
    fatal: list[ModelError] = []
    warnings: list[str] = []
    config = _read_json(path / "config.json", fatal, required=True)
    if config is not None:
        _check_type(path, config, assistant, fatal, warnings)
    headers = _check_weights(path, fatal, warnings)
    if not assistant:
        _check_text_files(path, fatal, warnings)
    if fatal or config is None or headers is None:
        return None, fatal, warnings
    tensors = {n: (t.dtype, t.shape) for h in headers.values() for n, t in h.tensors.items()}
    cached = snapshot_repo(path)
    report = ModelReport(
        path=path,
        model_type=config.get("model_type", ""),
        revision=cached[1] if cached else _fingerprint(path, headers),
        tensors=tensors,
        total_bytes=sum(h.data_len for h in headers.values()),
        problems=warnings,
        config=config,
        shards=sorted(headers),
        repo_id=cached[0] if cached else None,
    )
    return report, fatal, warnings


def _read_json(file: Path, fatal: list[ModelError], required: bool) -> dict | None:
    if not file.is_file():
        if required:
            fatal.append(ModelIncomplete(
                f"{file.parent} has no {file.name}: it is not a complete model snapshot; {_REDOWNLOAD}."
            ))
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fatal.append(ModelCorrupt(f"{file} cannot be read ({_reason(e)}): the file is damaged; {_REDOWNLOAD}."))
        return None
    if not isinstance(data, dict):
        fatal.append(ModelCorrupt(f"{file} is not a JSON object: the file is damaged; {_REDOWNLOAD}."))
        return None
    return data


def _reason(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON at line {e.lineno}"
    return getattr(e, "strerror", None) or type(e).__name__


def _check_type(path: Path, config: dict, assistant: bool, fatal: list, warnings: list) -> None:
    found = config.get("model_type") or "unknown"
    if assistant and found != ASSISTANT_TYPE:
        fatal.append(WrongModelType(
            f"{path} is a {found} model, not the Gemma 4 unified drafter ({ASSISTANT_TYPE}). "
            f"Seesay's drafter is {ASSISTANT_REPO}."
        ))
    elif not assistant and found != MODEL_TYPE:
        hint = " That folder holds the drafter: point at the main model." if found == ASSISTANT_TYPE else ""
        fatal.append(WrongModelType(
            f"{path} is a {found} model, not Gemma 4 unified ({MODEL_TYPE}). Seesay needs {MODEL_REPO}.{hint}"
        ))
    saved_by = config.get("transformers_version")
    installed = _installed_transformers()
    if saved_by and installed and _newer(saved_by, installed):
        warnings.append(
            f"The model was saved by transformers {saved_by}, newer than the installed {installed}; "
            "if loading fails, update Seesay."
        )


def _check_weights(path: Path, fatal: list, warnings: list) -> dict[str, SafetensorsHeader] | None:
    """Headers of every shard, or None (with the reason in ``fatal``) if any is unusable."""
    before = len(fatal)
    weight_map: dict | None = None
    if (path / INDEX_FILE).is_file():
        index = _read_json(path / INDEX_FILE, fatal, required=True)
        if index is None:
            return None
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            fatal.append(ModelCorrupt(f"{path / INDEX_FILE} lists no tensors: the file is damaged; {_REDOWNLOAD}."))
            return None
        shard_names = sorted(set(map(str, weight_map.values())))
    elif (path / SINGLE_FILE).is_file():
        shard_names = [SINGLE_FILE]
    else:
        shard_names = sorted(p.name for p in path.glob("*.safetensors"))
        if not shard_names:
            fatal.append(_no_safetensors(path))
            return None
    headers = {}
    for name in shard_names:
        header = _check_shard(path / name, fatal)
        if header is not None:
            headers[name] = header
    if weight_map is not None:
        _check_index_matches(path, weight_map, headers, fatal)
        stray = sorted(p.name for p in path.glob("*.safetensors") if p.name not in headers and p.name not in shard_names)
        if stray:
            warnings.append(f"{', '.join(stray)} in {path} is not listed in {INDEX_FILE} and will be ignored.")
    return headers if len(fatal) == before else None


def _no_safetensors(path: Path) -> ModelError:
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        return UnsupportedCheckpoint(
            f"{path} holds only PyTorch pickle weights ({', '.join(pickles[:3])}); Seesay loads safetensors "
            f"only, which cannot run code when opened: download the safetensors files of {MODEL_REPO}."
        )
    return ModelIncomplete(
        f"{path} has no model weights ({SINGLE_FILE}, or shards with {INDEX_FILE}): "
        f"the download is incomplete; {_REDOWNLOAD}."
    )


def _check_shard(file: Path, fatal: list) -> SafetensorsHeader | None:
    if not file.is_file():
        fatal.append(ModelIncomplete(
            f"{file.name} is missing from {file.parent}: the download is incomplete; {_REDOWNLOAD}."
        ))
        return None
    try:
        header = read_header(file)
    except HeaderError as e:
        fatal.append(ModelCorrupt(f"{e}: the file is damaged or was cut short; {_REDOWNLOAD}."))
        return None
    if header.is_truncated:
        fatal.append(ModelCorrupt(
            f"{file.name} is truncated ({human_size(header.file_size)} of {human_size(header.expected_size)}): "
            f"the download was interrupted; {_REDOWNLOAD}."
        ))
        return None
    if header.file_size > header.expected_size:
        extra = header.file_size - header.expected_size
        fatal.append(ModelCorrupt(
            f"{file.name} has {human_size(extra)} of unexpected data after its tensors: "
            f"the file is damaged; {_REDOWNLOAD}."
        ))
        return None
    return header


def _check_index_matches(path: Path, weight_map: dict, headers: dict, fatal: list) -> None:
    lacking: dict[str, list[str]] = {}
    for tensor, shard in weight_map.items():
        if shard in headers and tensor not in headers[shard].tensors:
            lacking.setdefault(shard, []).append(tensor)
    for shard, names in sorted(lacking.items()):
        fatal.append(ModelCorrupt(
            f"{shard} lacks {len(names)} tensor(s) that {INDEX_FILE} places there (e.g. {names[0]}): "
            f"the files in {path} come from different downloads; {_REDOWNLOAD}."
        ))


def _check_text_files(path: Path, fatal: list, warnings: list) -> None:
    def missing(what: str) -> None:
        fatal.append(ModelIncomplete(
            f"{path} has no {what}: the snapshot is incomplete; download the whole {MODEL_REPO} snapshot again."
        ))

    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model")):
        missing("tokenizer (tokenizer.json or tokenizer.model)")
    tokenizer_config = _read_json(path / "tokenizer_config.json", fatal, required=False)
    if not (path / "tokenizer_config.json").is_file():
        missing("tokenizer_config.json")
    processor = _read_json(path / "processor_config.json", fatal, required=False)
    if not any((path / f).is_file() for f in ("processor_config.json", "preprocessor_config.json")):
        missing("image/audio processor settings (processor_config.json or preprocessor_config.json)")
    has_template = any((path / f).is_file() for f in ("chat_template.jinja", "chat_template.json")) or any(
        isinstance(c, dict) and c.get("chat_template") for c in (tokenizer_config, processor)
    )
    if not has_template:
        missing("chat template (chat_template.jinja, or chat_template in tokenizer_config.json)")
    if not (path / "generation_config.json").is_file():
        warnings.append(f"{path} has no generation_config.json: answers may not stop at the end of a turn.")


def _pair_problems(model: ModelReport, assistant: ModelReport) -> list[ModelError]:
    hidden = model.text_config.get("hidden_size")
    backbone = assistant.config.get("backbone_hidden_size")
    vocab, draft_vocab = model.text_config.get("vocab_size"), assistant.text_config.get("vocab_size")
    if (hidden, vocab) != (backbone, draft_vocab) and None not in (hidden, backbone):
        return [WrongModelType(
            f"{assistant.path} drafts for a different model (hidden size {backbone}, vocabulary {draft_vocab}; "
            f"{model.name} has {hidden} and {vocab}). Use the drafter released with the model ({ASSISTANT_REPO})."
        )]
    return []


def _fingerprint(path: Path, headers: dict[str, SafetensorsHeader]) -> str:
    """Stable while the files stay the same; changes when any shard is replaced."""
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for name in sorted(headers):
        stat = (path / name).stat()
        digest.update(f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return "local-" + digest.hexdigest()[:16]


def _installed_transformers() -> str | None:
    """The installed transformers' version, from its ``*.dist-info`` folder name.

    ``importlib.metadata`` would say the same, but importing it (the ``email`` package and more)
    held the GIL for ~20 ms on the loading thread, in one piece, and the window froze with it.
    """
    for folder in sys.path:
        try:
            infos = list(Path(folder or ".").glob("transformers-*.dist-info"))
        except OSError:
            continue
        for info in infos:
            return info.name.removeprefix("transformers-").removesuffix(".dist-info")
    return None


def _newer(a: str, b: str) -> bool:
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return False
    try:
        return Version(a) > Version(b)
    except InvalidVersion:
        return False
