"""`seesay ask` and `seesay check` as real processes with the tiny model: the answer on stdout, the
figures on stderr, one clear line and a documented exit code for every problem, Ctrl+C keeps the
partial answer. The successful runs happen with no network at all (`unshare -n`, where allowed)."""

import signal
import subprocess

import numpy as np
import pytest
import soundfile

from tests.app.desktop_kit import REPO, app_env, copy_model, offline_prefix, picture, seesay, truncate_a_shard


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-inputs")
    files = {"image": folder / "shot.png", "audio": folder / "voice.wav", "long": folder / "six-minutes.flac",
             "bad_image": folder / "bad.png", "bad_audio": folder / "bad.wav"}
    picture().save(files["image"])
    t = np.arange(32_000, dtype=np.float32) / 16_000
    soundfile.write(files["audio"], 0.2 * np.sin(2 * np.pi * 440 * t), 16_000)
    soundfile.write(files["long"], np.zeros(16_000 * 360, np.float32), 16_000)
    files["bad_image"].write_bytes(b"this is not an image")
    files["bad_audio"].write_bytes(b"RIFF nonsense")
    return files


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return app_env(tmp_path_factory.mktemp("cli-home"))  # no settings saved: no default model


def run(args, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(offline_prefix() + seesay(*args), cwd=REPO, env=env, capture_output=True, text=True,
                          errors="replace", timeout=timeout)


def test_ask_streams_an_answer_about_an_image_and_a_sound_offline(tiny, inputs, env):
    done = run(["ask", "--model", str(tiny.model_dir), "--image", str(inputs["image"]),
                "--audio", str(inputs["audio"]), "--max-tokens", "5", "--greedy", "--stats",
                "What", "do", "you", "see", "and", "hear?"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "[100%] Ready" in done.stderr
    assert "image" in done.stderr and "50 audio" in done.stderr  # 2 s of audio: 50 tokens
    assert "time to first token" in done.stderr and "(5 tokens, length)" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_reports_the_model_and_whether_it_fits(tiny, env):
    done = run(["check", "--model", str(tiny.model_dir)], env)
    assert done.returncode == 0, done.stderr
    assert tiny.model_dir.name in done.stdout and "fits in memory" in done.stdout
    assert "Drafter:" in done.stdout and tiny.assistant_dir.name in done.stdout


@pytest.fixture(scope="module")
def failures(tiny, inputs, env, tmp_path_factory):
    """Every failing command, started at once (they are independent): name -> CompletedProcess-like."""
    broken = copy_model(tiny, tmp_path_factory.mktemp("broken"))
    truncate_a_shard(broken)
    model = str(tiny.model_dir)
    cases = {
        "no model set": ["ask", "hello"],
        "missing model": ["ask", "--model", "/nowhere/gemma", "hello"],
        "corrupt model": ["ask", "--model", str(broken), "hello"],
        "wrong model type": ["ask", "--model", str(tiny.assistant_dir), "hello"],
        "check wrong type": ["check", "--model", str(tiny.assistant_dir)],
        "unreadable image": ["ask", "--model", model, "--image", str(inputs["bad_image"]), "what?"],
        "unreadable audio": ["ask", "--model", model, "--audio", str(inputs["bad_audio"]), "what?"],
        "six-minute audio": ["ask", "--model", model, "--audio", str(inputs["long"]), "what?"],
        "nothing to ask": ["ask", "--model", model],
        "unknown option": ["ask", "--bogus", "hello"],
        "bad detail": ["ask", "--detail", "123", "hello"],
        "no command": [],
    }
    started = {name: subprocess.Popen(seesay(*args) if args else seesay("ask", "--nope"), cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
               for name, args in cases.items()}
    results = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=180)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


@pytest.mark.parametrize("case, code, says", [
    ("no model set", 3, "No model is set"),
    ("missing model", 3, "No model at"),
    ("corrupt model", 3, ".safetensors"),
    ("wrong model type", 3, "holds the drafter"),
    ("check wrong type", 3, "holds the drafter"),
    ("unreadable image", 4, "Cannot read the image"),
    ("unreadable audio", 4, "Cannot read the audio file"),
    ("six-minute audio", 4, "6 min 00 s long"),
])
def test_a_problem_is_one_line_and_its_exit_code(failures, case, code, says):
    done = failures[case]
    assert done.returncode == code, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("[")]  # progress lines
    assert len(lines) == 1 and lines[0].startswith("seesay: ") and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and not done.stdout.strip()


@pytest.mark.parametrize("case", ["nothing to ask", "unknown option", "bad detail", "no command"])
def test_usage_errors_exit_2(failures, case):
    done = failures[case]
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() and "Traceback" not in done.stderr


def test_debug_adds_the_traceback(env):
    done = run(["--debug", "ask", "--model", "/nowhere/gemma", "hello"], env)
    assert done.returncode == 3
    assert "Traceback" in done.stderr and done.stderr.strip().endswith("download google/gemma-4-12B-it in "
                                                                       "Seesay's setup page.")


def test_ctrl_c_keeps_the_partial_answer_and_exits_130(tiny, env):
    proc = subprocess.Popen(seesay("ask", "--model", str(tiny.model_dir), "--max-tokens", "2000", "--greedy",
                                   "Tell me a very long story."),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.read1(4096)  # returns as soon as the answer has begun
        assert first, proc.stderr.read().decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    partial = (first + rest).decode(errors="replace")
    assert partial.strip()
    assert "seesay: cancelled; the partial answer is above" in err.decode()
    assert b"Traceback" not in err
