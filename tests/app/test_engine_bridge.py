"""The Qt bridge to the engine, with the tiny model: work runs in the engine's own process, results come
back as signals on the GUI thread, and every failure ends in a signal with a message for the user (also
the engine's process dying)."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading

import pytest

from app.engine_bridge import EngineBridge
from app import engine_process
from app.engine_process import message_for
from inference.conversation import ImagePart, Turn
from inference.errors import InputError
from inference.generate import GenerationSettings, Stats
from inference.loader import LoadOptions
from tests.app.desktop_kit import REPO, app_env, engine_held_at_first_piece, picture
from ui.qt import Qt, QtCore

TIMEOUT_MS = 60_000
LOAD_TIMEOUT_MS = 180_000  # a load in a fresh engine process imports torch first
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
        with qtbot.waitSignal(loaded.loaded, timeout=LOAD_TIMEOUT_MS):
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
    pid = ready._relay.pid  # the work happens in a process of its own
    assert pid is not None and pid != os.getpid() and alive(pid)


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
        assert bridge._relay.pid is None  # no process was started for nothing
    finally:
        bridge.shutdown()
    assert not bridge._relay._sender.is_alive()


def test_a_model_that_cannot_load_ends_in_load_failed(qtbot, qapp, tmp_path):
    bridge = EngineBridge()
    try:
        with qtbot.assertNotEmitted(bridge.loaded, wait=0):
            with qtbot.waitSignal(bridge.loadFailed, timeout=LOAD_TIMEOUT_MS) as failed:
                bridge.load(LoadOptions(model=str(tmp_path / "nowhere")))
        assert failed.args[0].startswith("No model at") and "\n" not in failed.args[0]
    finally:
        bridge.shutdown()


def test_the_engine_process_logs_into_the_apps_log(qtbot, qapp, tmp_path, caplog):
    bridge = EngineBridge()
    try:
        with qtbot.waitSignal(bridge.loadFailed, timeout=LOAD_TIMEOUT_MS):
            bridge.load(LoadOptions(model=str(tmp_path / "nowhere")))
        pid = bridge._relay.pid
    finally:
        bridge.shutdown()
    [record] = [r for r in caplog.records if r.getMessage().startswith("loading the model failed")]
    assert record.process == pid != os.getpid() and record.name == "app.engine_process"
    assert "ModelNotFound" in record.getMessage()  # the traceback came along, as text


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX niceness")
def test_the_engine_process_runs_below_the_apps_priority(qtbot, qapp, tmp_path):
    import psutil

    bridge = EngineBridge()
    try:
        with qtbot.waitSignal(bridge.loadFailed, timeout=LOAD_TIMEOUT_MS):
            bridge.load(LoadOptions(model=str(tmp_path / "nowhere")))
        engine_nice = psutil.Process(bridge._relay.pid).nice()
    finally:
        bridge.shutdown()
    assert engine_nice == min(19, os.nice(0) + engine_process.NICE)


def test_messages_for_the_user():
    assert message_for(InputError("The clip is too long.")) == "The clip is too long."
    assert "out of memory" in message_for(MemoryError()) and "int4" in message_for(MemoryError())
    assert message_for(KeyError("x")) == "Something went wrong: KeyError: 'x'. The log has the details."


def test_prefills_asked_while_one_runs_are_merged_into_the_newest(qtbot, ready):
    """Push-to-talk asks for a prefill every second; if one takes longer, only the newest waits."""
    relay = ready._relay
    images = {text: picture(text) for text in ("one", "two", "three", "four")}
    done, started, release = [], threading.Event(), threading.Event()

    def held(tokens):  # on the relay's thread, as the first prefill is reported: held until more are asked
        done.append(tokens)
        if len(done) == 1:
            started.set()
            release.wait(TIMEOUT_MS / 1000)

    sent_before = relay.media_sent
    relay.prefilled.connect(held, Qt.ConnectionType.DirectConnection)
    try:
        ready.prefill([Turn.user(ImagePart(images["one"]))], 280)
        assert started.wait(TIMEOUT_MS / 1000)
        for text in ("two", "three", "four"):
            ready.prefill([Turn.user(ImagePart(images[text]))], 280)
        with qtbot.waitSignal(relay.prefilled, timeout=TIMEOUT_MS):  # the newest one, after the first
            release.set()
        (_, _, stats), _ = answer(qtbot, ready, "r-after-prefills", [Turn.user(ImagePart(images["four"]), "four")])
    finally:
        release.set()
        relay.prefilled.disconnect(held)
    assert len(done) == 2 and all(tokens > 0 for tokens in done)
    assert relay.media_sent - sent_before == 2  # "two" and "three" never crossed to the engine
    assert stats.reused_tokens >= done[1]  # the answer went on from the newest prefill


def test_a_follow_up_sends_its_screenshot_once_and_reuses_the_cache(qtbot, ready):
    relay, screenshot = ready._relay, picture("follow-up")
    sent_before = relay.media_sent
    first = [Turn.user(ImagePart(screenshot), "What is this?")]
    (_, _, stats), pieces = answer(qtbot, ready, "m1", first)
    assert relay.media_sent - sent_before == 1 and stats.prompt_tokens["image"] > 0
    follow_up = first + [Turn.assistant("".join(text for _, text in pieces)), Turn.user("And then?")]
    (_, _, again), _ = answer(qtbot, ready, "m2", follow_up)
    assert relay.media_sent - sent_before == 1  # the same image object: its token, not its pixels
    assert again.reused_tokens >= sum(stats.prompt_tokens.values())
    (_, _, other), _ = answer(qtbot, ready, "m3", [Turn.user(ImagePart(picture("another")), "And this?")])
    assert relay.media_sent - sent_before == 2 and other.reused_tokens < stats.prompt_tokens["image"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_engine_process_fails_the_answer_and_the_next_load_recovers(qtbot, qapp, options):
    bridge = EngineBridge()
    try:
        with qtbot.waitSignal(bridge.loaded, timeout=LOAD_TIMEOUT_MS):
            bridge.load(options)
        first = bridge._relay.pid
        with engine_held_at_first_piece(bridge) as release:  # the engine waits there: still answering
            def kill(*_):
                os.kill(first, signal.SIGKILL)  # what the out-of-memory killer does
                release.set()
            bridge.piece.connect(kill)
            try:
                with qtbot.assertNotEmitted(bridge.answered, wait=0):
                    with qtbot.waitSignal(bridge.answerFailed, timeout=TIMEOUT_MS) as failed:
                        bridge.ask("k1", [Turn.user("A long one")], GenerationSettings(max_new_tokens=500, greedy=True))
            finally:
                bridge.piece.disconnect(kill)
        request, message = failed.args
        assert request == "k1" and not bridge.is_answering()
        assert message.startswith("The model's process was stopped (exit code -9)")
        assert "ran out of memory" in message and "Restart Seesay" in message
        assert not alive(first)

        with qtbot.waitSignal(bridge.answerFailed, timeout=TIMEOUT_MS) as again:  # until a load, it says so
            bridge.ask("k2", [Turn.user("Still there?")], SHORT)
        assert again.args == ["k2", message]

        with qtbot.waitSignal(bridge.loaded, timeout=LOAD_TIMEOUT_MS):
            bridge.load(options)
        second = bridge._relay.pid
        assert second != first and alive(second)
        (request, finish, _), pieces = answer(qtbot, bridge, "k3", [Turn.user("Back again?")])
        assert request == "k3" and finish in ("stop", "length") and pieces

        with qtbot.waitSignal(bridge.loadFailed, timeout=TIMEOUT_MS) as gone:  # dying idle is told too
            os.kill(second, signal.SIGKILL)
        assert gone.args[0].startswith("The model's process was stopped (exit code -9)")
    finally:
        bridge.shutdown()
    assert not alive(second)  # shutdown leaves no engine process behind


def test_shutdown_mid_answer_ends_the_engine_process(qtbot, qapp, options):
    bridge = EngineBridge()
    with qtbot.waitSignal(bridge.loaded, timeout=LOAD_TIMEOUT_MS):
        bridge.load(options)
    pid = bridge._relay.pid
    with qtbot.waitSignal(bridge.piece, timeout=TIMEOUT_MS):
        bridge.ask("s1", [Turn.user("A long one")], GenerationSettings(max_new_tokens=5000, greedy=True))
    bridge.shutdown()
    assert not alive(pid)
    assert bridge._relay.pid is None and pid not in {p.pid for p in multiprocessing.active_children()}


PROBE = """
import json, sys
from tests.app.gui_process_probe import main
print(json.dumps(main(sys.argv[1])))
"""


def test_the_gui_process_never_imports_torch(tiny, tmp_path):
    """A Desktop that loads the tiny model and answers a question about a screenshot, in a process of
    its own (this test process imports torch for other tests): torch stays in the engine's process,
    and numpy and soundfile come after the window is built (they are ~0.1 s of its start)."""
    from app import paths

    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").symlink_to(paths.cache_dir(), target_is_directory=True)  # the quantized copy is made
    env = app_env(home, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", PROBE, str(tiny.model_dir)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["answer"] in ("stop", "length") and result["image_tokens"] > 0, result
    assert result["heavy_modules"] == [], result
    assert result["before_first_paint"] == [], result
