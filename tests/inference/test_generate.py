"""stream_generate: one Response per decoding step, text pieces that never split a character, a
final record with the finish reason, and a generation thread that always ends with the stream.

A scripted stand-in for the model (its ``generate`` feeds the streamer like transformers does) keeps
these tests exact; the real model streams in test_engine.py.
"""

import threading

import pytest
import torch

from inference.generate import GenerationSettings, Response, Stats, _CancelFlag, stream_generate

GREEDY = GenerationSettings(greedy=True, max_new_tokens=64)


class ScriptedModel:
    """Plays ``steps`` (lists of token ids) through the streamer, honouring the stopping criteria."""

    device = torch.device("cpu")

    def __init__(self, steps: list[list[int]], fail_after: int | None = None, gate: threading.Event | None = None):
        self.steps = steps
        self.fail_after = fail_after
        self.gate = gate  # when given, each step after the first waits for it to be set
        self.kwargs: dict = {}
        self.steps_run = 0
        self.random: float | None = None

    def generate(self, **kwargs):
        self.kwargs = kwargs
        self.random = torch.rand(1).item()
        streamer, criteria = kwargs["streamer"], kwargs["stopping_criteria"]
        ids = kwargs["input_ids"]
        streamer.put(ids)  # transformers hands over the prompt first
        for n, step in enumerate(self.steps[: kwargs["max_new_tokens"]]):
            if self.fail_after is not None and n == self.fail_after:
                raise RuntimeError("the model broke")
            if self.gate is not None and n > 0:
                assert self.gate.wait(30)
            self.steps_run += 1
            streamer.put(torch.tensor(step))
            ids = torch.cat([ids, torch.tensor([step])], dim=1)
            if step[-1] in kwargs["eos_token_id"] or criteria(ids, None).all():
                break
        streamer.end()


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny.model_dir, local_files_only=True)


@pytest.fixture(scope="module")
def ids(tokenizer):
    """Token ids of a few pieces: bytes of 'é' (two tokens), letters, the end-of-turn token."""
    names = {"é1": "Ã", "é2": "©", "h": "h", "i": "i", "space": "Ġ", "end": "<turn|>"}
    return {k: tokenizer.convert_tokens_to_ids(v) for k, v in names.items()}


def run(model, tokenizer, settings=GREEDY, *, stop=(6,), cancel=None, assistant=None, stats=None):
    stats = stats or Stats(prefilled_tokens=3)
    generated: list[int] = []
    responses = list(stream_generate(
        model, tokenizer, {"input_ids": torch.tensor([[2, 40, 41]])}, settings=settings, cache=None,
        stop_ids=list(stop), cancel=cancel or threading.Event(), stats=stats, generated=generated,
        suppress=[8, 11], assistant=assistant))
    return responses, generated


def test_one_record_per_step_then_a_final_one(tokenizer, ids):
    model = ScriptedModel([[ids["h"]], [ids["i"]], [ids["space"]], [ids["h"]]])
    responses, generated = run(model, tokenizer)
    assert [r.text for r in responses] == ["h", "i", " ", "h", ""]
    assert [r.token_ids for r in responses] == [(ids["h"],), (ids["i"],), (ids["space"],), (ids["h"],), ()]
    assert [r.finish_reason for r in responses] == [None] * 4 + ["length"]
    assert all(isinstance(r, Response) for r in responses)
    assert generated == [ids["h"], ids["i"], ids["space"], ids["h"]]


def test_a_character_split_across_tokens_is_held_back_until_whole(tokenizer, ids):
    model = ScriptedModel([[ids["h"]], [ids["é1"]], [ids["é2"]], [ids["i"]]])
    responses, _ = run(model, tokenizer)
    assert [r.text for r in responses] == ["h", "", "é", "i", ""]
    assert "\ufffd" not in "".join(r.text for r in responses)


def test_a_character_cut_by_the_end_still_reaches_the_text(tokenizer, ids):
    model = ScriptedModel([[ids["h"]], [ids["é1"]]])
    responses, generated = run(model, tokenizer)
    assert "".join(r.text for r in responses) == tokenizer.decode(generated, skip_special_tokens=True) == "h\ufffd"


def test_the_end_of_turn_token_stops_with_reason_stop_and_no_text(tokenizer, ids):
    model = ScriptedModel([[ids["h"]], [ids["end"]], [ids["i"]]])
    responses, generated = run(model, tokenizer, stop=(1, ids["end"]))
    assert generated == [ids["h"], ids["end"]]
    assert responses[-1].finish_reason == "stop"
    assert "".join(r.text for r in responses) == "h"


def test_max_new_tokens_ends_with_reason_length(tokenizer, ids):
    model = ScriptedModel([[ids["h"]]] * 10)
    responses, generated = run(model, tokenizer, GenerationSettings(greedy=True, max_new_tokens=3))
    assert len(generated) == 3 and responses[-1].finish_reason == "length"
    assert model.kwargs["max_new_tokens"] == 3


def test_stats_are_filled_as_tokens_come(tokenizer, ids):
    model = ScriptedModel([[ids["h"]], [ids["i"]], [ids["h"]]])
    responses, _ = run(model, tokenizer)
    stats = responses[-1].stats
    assert stats.generated_tokens == 3 == sum(len(r.token_ids) for r in responses)
    assert stats.time_to_first_token_s > 0 and stats.prefill_tokens_per_s > 0
    assert stats.tokens_per_s > 0 and stats.peak_memory_bytes > 0
    assert stats.target_steps == 2  # decoding steps after the first token
    assert stats.drafted_tokens == stats.accepted_tokens == 0


def test_drafted_and_accepted_tokens_are_counted_per_step(tokenizer, ids):
    class Drafter:
        generation_config = type("Config", (), {"num_assistant_tokens": 3})()

    # First token from prefill; then steps bringing 1 (nothing accepted), 3 and 4 tokens.
    h, i = ids["h"], ids["i"]
    model = ScriptedModel([[h], [i], [h, i, h], [i, h, i, h]])
    responses, generated = run(model, tokenizer, assistant=Drafter())
    stats = responses[-1].stats
    assert model.kwargs["assistant_model"] is not None
    assert stats.target_steps == 3 and stats.drafted_tokens == 9 and stats.accepted_tokens == 0 + 2 + 3
    assert stats.generated_tokens == len(generated) == 9
    assert responses[3].token_ids == (i, h, i, h)


def test_greedy_and_sampling_settings_reach_generate(tokenizer, ids):
    model = ScriptedModel([[ids["h"]]])
    run(model, tokenizer)
    assert model.kwargs["do_sample"] is False and model.kwargs["temperature"] is None
    assert "assistant_model" not in model.kwargs
    [suppress] = model.kwargs["logits_processor"]  # placeholders are never generated
    scores = torch.zeros(1, 16)
    assert torch.isinf(suppress(None, scores)[0, [8, 11]]).all() and torch.isfinite(scores[0, :8]).all()
    assert model.kwargs["eos_token_id"] == [6] and model.kwargs["pad_token_id"] == tokenizer.pad_token_id

    settings = GenerationSettings(temperature=0.7, top_p=0.9, top_k=20, max_new_tokens=5)
    run(model, tokenizer, settings)
    assert model.kwargs["do_sample"] is True
    assert (model.kwargs["temperature"], model.kwargs["top_p"], model.kwargs["top_k"]) == (0.7, 0.9, 20)


def test_gemma_sampling_defaults():
    settings = GenerationSettings()
    assert (settings.temperature, settings.top_p, settings.top_k) == (1.0, 0.95, 64)
    assert not settings.greedy and settings.use_draft and settings.image_detail == 280


def test_the_seed_is_set_where_generation_runs(tokenizer, ids):
    draws = []
    for seed in (7, 7, 8):
        model = ScriptedModel([[ids["h"]]])
        run(model, tokenizer, GenerationSettings(seed=seed))
        draws.append(model.random)
    assert draws[0] == draws[1] != draws[2]


def test_cancel_stops_at_the_next_step_with_reason_cancelled(tokenizer, ids):
    cancel = threading.Event()
    model = ScriptedModel([[ids["h"]]] * 50, gate=cancel)  # a second step only once cancel came
    stream = stream_generate(model, tokenizer, {"input_ids": torch.tensor([[2]])}, settings=GREEDY, cache=None,
                             stop_ids=[6], cancel=cancel, stats=Stats(), generated=[])
    first = next(stream)
    assert first.finish_reason is None
    cancel.set()
    rest = list(stream)
    assert rest[-1].finish_reason == "cancelled"
    assert model.steps_run <= 2  # at most the step under way when cancel came


def test_a_model_error_reaches_the_caller_and_the_thread_ends(tokenizer, ids):
    model = ScriptedModel([[ids["h"]]] * 5, fail_after=2)
    with pytest.raises(RuntimeError, match="the model broke"):
        run(model, tokenizer)
    assert not [t for t in threading.enumerate() if t.name == "seesay-generate"]


def test_closing_the_stream_early_stops_generation_and_joins_the_thread(tokenizer, ids):
    cancel = threading.Event()
    model = ScriptedModel([[ids["h"]]] * 50, gate=cancel)  # a second step only once cancel came
    stream = stream_generate(model, tokenizer, {"input_ids": torch.tensor([[2]])}, settings=GREEDY, cache=None,
                             stop_ids=[6], cancel=cancel, stats=Stats(), generated=[])
    next(stream)
    stream.close()
    assert cancel.is_set()
    assert not [t for t in threading.enumerate() if t.name == "seesay-generate"]
    assert model.steps_run <= 2


def test_the_cancel_flag_answers_for_every_row():
    event = threading.Event()
    flag = _CancelFlag(event)
    ids = torch.zeros((3, 4), dtype=torch.long)
    assert flag(ids, None).tolist() == [False] * 3
    event.set()
    result = flag(ids, None)
    assert result.dtype == torch.bool and result.tolist() == [True] * 3
