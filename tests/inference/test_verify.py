"""Verification names what is wrong with a model folder, and the fix, before anything loads."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference.errors import (
    ModelCorrupt, ModelIncomplete, ModelNotFound, UnsupportedCheckpoint, WrongModelType,
)
from inference.verify import check_assistant, check_model, verify_assistant, verify_model

SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"


@pytest.fixture
def model(tiny, tmp_path) -> Path:
    """A copy of the tiny model that a test may damage."""
    return Path(shutil.copytree(tiny.model_dir, tmp_path / "gemma-4-tiny-it"))


@pytest.fixture
def drafter(tiny, tmp_path) -> Path:
    return Path(shutil.copytree(tiny.assistant_dir, tmp_path / "gemma-4-tiny-it-assistant"))


def edit_json(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


def test_a_complete_model_passes_with_its_tensors_listed(tiny):
    report = verify_model(tiny.model_dir)
    index = json.loads((tiny.model_dir / "model.safetensors.index.json").read_text())
    assert report.model_type == "gemma4_unified"
    assert report.shards == [SHARD1, SHARD2]
    assert set(report.tensors) == set(index["weight_map"])
    assert report.tensors["model.language_model.embed_tokens.weight"] == ("F32", (512, 64))
    assert report.total_bytes == index["metadata"]["total_size"]
    assert report.problems == []
    assert check_model(tiny.model_dir) == (report, [])


def test_verification_does_not_import_torch(tiny):
    code = (
        "import sys; from inference.verify import verify_model; "
        f"verify_model({str(tiny.model_dir)!r}); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'imported a heavy module'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr


def test_the_fingerprint_is_stable_and_changes_when_a_shard_changes(model):
    first = verify_model(model).revision
    assert first.startswith("local-") and verify_model(model).revision == first
    os.utime(model / SHARD2, ns=(1, 1))
    assert verify_model(model).revision != first


def test_a_truncated_shard_says_how_much_arrived(model):
    shard = model / SHARD1
    full = shard.stat().st_size
    assert full > 1_300_000  # else pick a smaller cut below
    with open(shard, "r+b") as f:
        f.truncate(1_230_000)
    with pytest.raises(ModelCorrupt) as e:
        verify_model(model)
    assert str(e.value) == (
        f"{SHARD1} is truncated (1.2 MB of {full / 1e6:.1f} MB): "
        "the download was interrupted; download it again."
    )


def test_a_shard_cut_inside_its_header_is_corrupt(model):
    with open(model / SHARD2, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ModelCorrupt, match=f"{SHARD2} does not start with a safetensors header.*download it again"):
        verify_model(model)


def test_a_shard_with_a_garbled_header_is_corrupt(model):
    with open(model / SHARD2, "r+b") as f:
        f.seek(8)
        f.write(b"\xff\xfe not json")
    with pytest.raises(ModelCorrupt, match=f"{SHARD2} has a damaged safetensors header"):
        verify_model(model)


def test_a_shard_with_extra_bytes_is_corrupt(model):
    with open(model / SHARD2, "ab") as f:
        f.write(b"\0" * 1000)
    with pytest.raises(ModelCorrupt, match=f"{SHARD2} has 1.0 KB of unexpected data"):
        verify_model(model)


def test_a_missing_shard_is_named(model):
    (model / SHARD2).unlink()
    with pytest.raises(ModelIncomplete, match=f"{SHARD2} is missing from .*download it again"):
        verify_model(model)


def test_an_index_that_does_not_match_its_shards_is_corrupt(model):
    tensor = "model.language_model.norm.weight"
    edit_json(model / "model.safetensors.index.json", lambda d: d["weight_map"].update({tensor: SHARD1}))
    with pytest.raises(ModelCorrupt, match=f"{SHARD1} lacks 1 tensor.*{tensor}.*different downloads"):
        verify_model(model)


@pytest.mark.parametrize("removed, named", [
    ("tokenizer.json", "no tokenizer (tokenizer.json or tokenizer.model)"),
    ("tokenizer_config.json", "no tokenizer_config.json"),
    ("processor_config.json", "no image/audio processor settings"),
    ("chat_template.jinja", "no chat template"),
])
def test_a_missing_text_file_is_named_with_the_fix(model, removed, named):
    (model / removed).unlink()
    with pytest.raises(ModelIncomplete) as e:
        verify_model(model)
    assert named in str(e.value) and "download the whole google/gemma-4-12B-it snapshot again" in str(e.value)


def test_a_chat_template_inside_tokenizer_config_counts(model):
    template = (model / "chat_template.jinja").read_text()
    (model / "chat_template.jinja").unlink()
    edit_json(model / "tokenizer_config.json", lambda d: d.update(chat_template=template))
    assert verify_model(model).problems == []


def test_a_missing_generation_config_is_only_a_warning(model):
    (model / "generation_config.json").unlink()
    report = verify_model(model)
    assert report.problems == [f"{model} has no generation_config.json: answers may not stop at the end of a turn."]


def test_a_model_saved_by_a_newer_transformers_is_a_warning_naming_both(model):
    import transformers

    edit_json(model / "config.json", lambda c: c.update(transformers_version="99.0.0"))
    report = verify_model(model)
    assert report.problems == [f"The model was saved by transformers 99.0.0, newer than the installed "
                               f"{transformers.__version__}; if loading fails, update Seesay."]
    edit_json(model / "config.json", lambda c: c.update(transformers_version="4.0.0"))
    assert verify_model(model).problems == []


def test_an_unreadable_config_names_the_file(model):
    (model / "config.json").write_text("{not json")
    with pytest.raises(ModelCorrupt) as e:
        verify_model(model)
    assert str(e.value).startswith(f"{model / 'config.json'} cannot be read (invalid JSON at line 1)")


def test_a_missing_config_is_incomplete(model):
    (model / "config.json").unlink()
    with pytest.raises(ModelIncomplete, match="has no config.json"):
        verify_model(model)


def test_a_different_model_type_is_refused(model):
    edit_json(model / "config.json", lambda d: d.update(model_type="llama"))
    with pytest.raises(WrongModelType) as e:
        verify_model(model)
    assert str(e.value) == (
        f"{model} is a llama model, not Gemma 4 unified (gemma4_unified). Seesay needs google/gemma-4-12B-it."
    )


def test_the_drafter_is_not_taken_for_the_model(tiny):
    with pytest.raises(WrongModelType, match="That folder holds the drafter"):
        verify_model(tiny.assistant_dir)


def test_bin_only_weights_are_refused_with_the_reason(model):
    for shard in model.glob("*.safetensors*"):
        shard.unlink()
    (model / "pytorch_model.bin").write_bytes(b"\x80\x02pickle")
    with pytest.raises(UnsupportedCheckpoint, match=r"only PyTorch pickle weights \(pytorch_model.bin\).*safetensors only"):
        verify_model(model)


def test_no_weights_at_all_is_incomplete(model):
    for shard in model.glob("*.safetensors*"):
        shard.unlink()
    with pytest.raises(ModelIncomplete, match="has no model weights"):
        verify_model(model)


def test_a_missing_folder_is_not_found(tmp_path):
    with pytest.raises(ModelNotFound):
        verify_model(tmp_path / "nothing")


def test_check_model_lists_every_problem(model):
    (model / "tokenizer.json").unlink()
    with open(model / SHARD1, "r+b") as f:
        f.truncate(1000)
    edit_json(model / "config.json", lambda d: d.update(model_type="llama"))
    report, problems = check_model(model)
    assert report is None
    assert [p.split(" ")[0] for p in problems] == [str(model), SHARD1, str(model)]
    assert "llama" in problems[0] and "truncated" in problems[1] and "tokenizer" in problems[2]


def test_the_drafter_verifies_against_its_model(tiny):
    model = verify_model(tiny.model_dir)
    report = verify_assistant(tiny.assistant_dir, model)
    assert report.model_type == "gemma4_unified_assistant"
    assert report.shards == ["model.safetensors"]
    assert "pre_projection.weight" in report.tensors


def test_the_model_is_not_taken_for_the_drafter(tiny):
    with pytest.raises(WrongModelType, match="not the Gemma 4 unified drafter"):
        verify_assistant(tiny.model_dir)


def test_a_drafter_for_another_model_is_refused(tiny, drafter):
    edit_json(drafter / "config.json", lambda d: d.update(backbone_hidden_size=128))
    model = verify_model(tiny.model_dir)
    assert verify_assistant(drafter).config["backbone_hidden_size"] == 128  # fine on its own
    with pytest.raises(WrongModelType, match="drafts for a different model"):
        verify_assistant(drafter, model)
    assert check_assistant(drafter, model)[0] is None


def test_a_truncated_drafter_is_corrupt(drafter):
    with open(drafter / "model.safetensors", "r+b") as f:
        f.truncate(50_000)
    with pytest.raises(ModelCorrupt, match="model.safetensors is truncated"):
        verify_assistant(drafter)
