"""`seesay`'s entry point: which of app and command line runs, argument errors, a second launch handing
its command to the running Seesay, and `seesay --self-test` with the tiny model, offline."""

import os
import subprocess

import pytest

from app import main as entry
from app.desktop import parse_args, run_desktop
from app.single_instance import SingleInstance, default_name
from tests.app.desktop_kit import REPO, app_env, offline_prefix, seesay
from ui.qt import QtCore


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr("app.cli.main", lambda argv: seen.append(("cli", argv)) or 11)
    monkeypatch.setattr("app.desktop.run_desktop", lambda argv: seen.append(("app", argv)) or 22)
    return seen


@pytest.mark.parametrize("argv, runs", [
    (["ask", "--model", "M", "hi"], "cli"),
    (["check"], "cli"),
    (["--debug", "ask", "hi"], "cli"),
    ([], "app"),
    (["--model", "M"], "app"),
    (["--ask-screen"], "app"),
    (["--debug"], "app"),
    (["asking"], "app"),  # not a command: the app's own parser refuses it
])
def test_commands_go_to_the_command_line_and_the_rest_to_the_app(calls, argv, runs):
    assert entry.main(argv) == (11 if runs == "cli" else 22)
    assert calls == [(runs, argv)]


def test_the_app_arguments():
    args = parse_args(["--model", "/m", "--print-startup-time", "--debug"])
    assert (args.model, args.print_startup_time, args.debug, args.ask_screen, args.talk) == ("/m", True, True,
                                                                                           False, False)


def test_usage_errors_exit_2_and_help_exits_0(capsys):
    assert run_desktop(["--no-such-option"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert run_desktop(["--help"]) == 0
    assert "--ask-screen" in capsys.readouterr().out


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A SEESAY_HOME of its own: its own single-instance channel, shared with the launched processes."""
    monkeypatch.setenv("SEESAY_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("flags, command", [(["--ask-screen"], "ask-screen"), (["--talk"], "talk"), ([], "show")])
def test_a_second_launch_hands_its_command_to_the_running_seesay(qtbot, qapp, home, flags, command):
    primary = SingleInstance()
    assert primary.try_become_primary()
    try:
        with qtbot.waitSignal(primary.commandReceived, timeout=30_000) as received:
            second = subprocess.Popen(seesay(*flags), cwd=REPO, env=app_env(home, QT_QPA_PLATFORM="offscreen"),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert received.args == [command]
        out, err = second.communicate(timeout=30)
        assert second.returncode == 0, err
    finally:
        primary.close()


def test_a_running_seesay_that_does_not_answer_is_reported(qapp, home):
    lock = QtCore.QLockFile(os.path.join(QtCore.QDir.tempPath(), default_name() + ".lock"))
    assert lock.tryLock(0)  # a live Seesay holds the lock, but nothing listens
    try:
        second = subprocess.run(seesay("--ask-screen"), cwd=REPO, env=app_env(home, QT_QPA_PLATFORM="offscreen"),
                                capture_output=True, text=True, timeout=60)
    finally:
        lock.unlock()
    assert second.returncode == 1
    assert second.stderr.strip() == ("seesay: another Seesay is running but does not answer; "
                                     "close it and try again")


def test_self_test_answers_one_question_offline(tiny, tmp_path):
    env = app_env(tmp_path, QT_QPA_PLATFORM="offscreen")
    env.pop("SEESAY_HOME")  # it makes a throw-away home of its own
    done = subprocess.run(offline_prefix() + seesay("--self-test", str(tiny.model_dir)), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"self-test: loaded {tiny.model_dir.name} (int4" in done.stdout
    assert "self-test: answer finished" in done.stdout and "2 messages stored" in done.stdout
    assert "'image': 273" in done.stdout and "'audio': 25" in done.stdout


def test_self_test_with_no_model_fails_clearly(tmp_path):
    done = subprocess.run(seesay("--self-test", str(tmp_path / "nothing")), cwd=REPO,
                          env=app_env(tmp_path, QT_QPA_PLATFORM="offscreen"), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3
    assert "self-test: FAILED to load: No model at" in done.stderr
