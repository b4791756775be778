"""The Qt bridge to the engine, with the tiny model: work runs on the engine's thread, results come back
as signals on the GUI thread, and every failure ends in a signal with a message for the user."""

import threading

import pytest

from app.engine_bridge import EngineBridge, _message
from inference.conversation import Turn
from inference.errors import InputError
from inference.generate import GenerationSettings, Stats
from inference.loader import LoadOptions
from tests.app.desktop_kit import engine_held_at_first_piece
from ui.qt import QtCore

TIMEOUT_MS = 60_000
SHORT = GenerationSettings(max_new_tokens=6, greedy=True)


@pytest.fixture(scope="module")
def options(tiny):
    from app import paths

    return LoadOptions(model=str(tiny.model_dir), quantization="int4", cache_dir=paths.quantized_dir())


@pytest.fixture(scope="module")
def loaded(qapp, options):
    """A bridge whose engine is loading (tests wait for it with ``ready``)."""
    bridge = EngineBridge()
    record = {"progress": [], "info": None, "thread": None}

    def on_loaded(info):
        record["info"], record["thread"] = info, QtCore.QThread.currentThread()

    bridge.loadProgress.connect(lambda what, fraction: record["progress"].append((what, fraction)))
    bridge.loaded.connect(on_loaded)
    bridge.load(options)
    bridge.record = record
    yield bridge
    bridge.shutdown()


@pytest.fixture
def ready(qtbot, loaded):
    if loaded.record["info"] is None:
        with qtbot.waitSignal(loaded.loaded, timeout=TIMEOUT_MS):
            pass
    return loaded


def answer(qtbot, bridge, request: str, turns, settings=SHORT):
    pieces = []
    collect = lambda rid, text: pieces.append((rid, text))  # noqa: E731
    bridge.piece.connect(collect)
    try:
        with qtbot.waitSignal(bridge.answered, timeout=TIMEOUT_MS) as done:
            bridge.ask(request, turns, settings)
            assert bridge.is_answering()
    finally:
        bridge.piece.disconnect(collect)
    assert not bridge.is_answering()
    return done.args, pieces


def test_load_reports_progress_then_the_engine(ready, qapp, tiny):
    info, progress = ready.record["info"], ready.record["progress"]
    assert info.model_name == tiny.model_dir.name and info.quantization == "int4" and info.device == "cpu"
    assert info.drafter == tiny.assistant_dir.name
    fractions = [fraction for _what, fraction in progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert ready.record["thread"] is qapp.thread()  # signals arrive on the GUI thread
    assert ready._worker.thread() is not qapp.thread()  # the work does not happen there


def test_an_answer_streams_pieces_then_finishes_with_stats(qtbot, ready):
    (request, finish, stats), pieces = answer(qtbot, ready, "r1", [Turn.user("Hello there")])
    assert request == "r1" and finish in ("stop", "length")
    assert pieces and {rid for rid, _ in pieces} == {"r1"} and all(text for _, text in pieces)
    assert isinstance(stats, Stats) and stats.generated_tokens <= SHORT.max_new_tokens
    assert stats.prompt_tokens["text"] > 0


def test_cancel_stops_the_answer_at_the_next_token(qtbot, ready):
    with engine_held_at_first_piece(ready) as release:
        def cancel(*_):
            ready.cancel()
            release.set()
        ready.piece.connect(cancel)
        try:
            (_, finish, stats), pieces = answer(qtbot, ready, "r2", [Turn.user("A long one")],
                                                GenerationSettings(max_new_tokens=500, greedy=True))
        finally:
            ready.piece.disconnect(cancel)
    assert finish == "cancelled" and stats.generated_tokens < 500 and pieces


def test_a_follow_up_reuses_the_cache_until_forget(qtbot, ready):
    first = [Turn.user("Remember this")]
    (_, _, stats), pieces = answer(qtbot, ready, "r3", first)
    follow_up = first + [Turn.assistant("".join(text for _, text in pieces)), Turn.user("And?")]
    (_, _, again), _ = answer(qtbot, ready, "r4", follow_up)
    assert again.reused_tokens > 0
    ready.forget()
    (_, _, fresh), _ = answer(qtbot, ready, "r5", follow_up)
    assert fresh.reused_tokens == 0


def test_an_engine_error_becomes_answer_failed_with_its_message(qtbot, ready):
    with qtbot.assertNotEmitted(ready.answered, wait=0):
        with qtbot.waitSignal(ready.answerFailed, timeout=TIMEOUT_MS) as failed:
            ready.ask("r6", [Turn.user("q"), Turn.assistant("no question after this")], SHORT)
    request, message = failed.args
    assert request == "r6" and message.startswith("There is no question to answer")
    assert not ready.is_answering()


def test_a_bug_in_the_engine_still_ends_in_a_message(qtbot, ready):
    with qtbot.waitSignal(ready.answerFailed, timeout=TIMEOUT_MS) as failed:
        ready.ask("r7", [Turn.user("q")], None)  # no generation settings: an AttributeError inside
    assert failed.args[1].startswith("Something went wrong: AttributeError")
    assert failed.args[1].endswith("The log has the details.")
    (_, finish, _), _ = answer(qtbot, ready, "r8", [Turn.user("still there?")])  # and it still works
    assert finish in ("stop", "length")


def test_asking_before_a_model_is_loaded_fails_clearly(qtbot, qapp):
    bridge = EngineBridge()
    try:
        with qtbot.waitSignal(bridge.answerFailed, timeout=TIMEOUT_MS) as failed:
            bridge.ask("r1", [Turn.user("hi")], SHORT)
        assert failed.args == ["r1", "The model is not loaded yet."]
        assert not bridge.is_answering()
    finally:
        bridge.shutdown()
    assert bridge._thread.isFinished()


def test_a_model_that_cannot_load_ends_in_load_failed(qtbot, qapp, tmp_path):
    bridge = EngineBridge()
    try:
        with qtbot.assertNotEmitted(bridge.loaded, wait=0):
            with qtbot.waitSignal(bridge.loadFailed, timeout=TIMEOUT_MS) as failed:
                bridge.load(LoadOptions(model=str(tmp_path / "nowhere")))
        assert failed.args[0].startswith("No model at") and "\n" not in failed.args[0]
    finally:
        bridge.shutdown()


def test_messages_for_the_user():
    assert _message(InputError("The clip is too long.")) == "The clip is too long."
    assert "out of memory" in _message(MemoryError()) and "int4" in _message(MemoryError())
    assert _message(KeyError("x")) == "Something went wrong: KeyError: 'x'. The log has the details."


def test_prefills_asked_while_one_runs_are_merged_into_the_newest(qtbot, ready):
    """Push-to-talk asks for a prefill every second; if one takes longer, only the newest waits."""
    engine = ready._worker.engine
    calls, started, release = [], threading.Event(), threading.Event()

    def held_prefill(turns, detail):  # the real prefill, held until the test has asked for more
        calls.append(turns[-1].parts[0].text)
        started.set()
        release.wait(TIMEOUT_MS / 1000)
        return type(engine).prefill(engine, turns, detail)

    engine.prefill = held_prefill
    try:
        ready.prefill([Turn.user("one")], 280)
        assert started.wait(TIMEOUT_MS / 1000)
        for text in ("two", "three", "four"):
            ready.prefill([Turn.user(text)], 280)
        release.set()
        answer(qtbot, ready, "r-after-prefills", [Turn.user("four")])  # queued behind them
    finally:
        release.set()
        del engine.prefill
    assert calls == ["one", "four"]
