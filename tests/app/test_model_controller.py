"""The model's life in the app, with the tiny model: setup page, choosing a folder, loading, failures,
settings that need a reload. Whatever goes wrong, the app stays usable and says what to do."""

import pytest

from app.settings import load_settings
from tests.app.desktop_kit import ANSWER_TIMEOUT_MS, engine_held_at_first_piece, make_desktop, tiny_settings, wait_ready


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    """One SEESAY_HOME for this module: saved settings and quantized copies stay out of the others'."""
    return tmp_path_factory.mktemp("model-controller-home")


@pytest.fixture
def make(qapp, tmp_path, module_home, monkeypatch):
    monkeypatch.setenv("SEESAY_HOME", str(module_home))
    made = []

    def build(settings, model_override=None):
        app = make_desktop(qapp, settings, tmp_path, model_override)
        made.append(app)
        return app

    yield build
    for app in made:
        app.shutdown()
        app.window.close()


def test_without_a_model_the_setup_page_shows_and_nothing_loads(qtbot, tiny, make):
    app = make(tiny_settings(tiny, model_dir=None))
    with qtbot.assertNotEmitted(app.bridge.loadProgress, wait=50):
        app.models.start()
    assert app.window.is_setup_shown()
    assert not app.chat.send("hello?")


@pytest.mark.parametrize("folder, problem", [
    ("assistant", "holds the drafter"),  # a model of the wrong type
    ("missing", "does not exist"),
])
def test_a_wrong_folder_is_explained_on_the_setup_page(qtbot, tiny, tmp_path, make, folder, problem):
    app = make(tiny_settings(tiny, model_dir=None))
    app.models.start()
    path = tiny.assistant_dir if folder == "assistant" else tmp_path / "nothing-here"
    with qtbot.assertNotEmitted(app.bridge.loadProgress, wait=50):
        app.window.setup.modelFolderChosen.emit(str(path))
    assert app.window.is_setup_shown()
    assert app.window.setup.problems.isVisibleTo(app.window.setup)
    assert problem in app.window.setup.problems.text()
    assert app.models.settings.model_dir is None


def test_choosing_a_good_folder_saves_it_and_loads_the_model(qtbot, tiny, make, module_home):
    app = make(tiny_settings(tiny, model_dir=None))
    app.models.start()
    with qtbot.waitSignal(app.models.ready, timeout=ANSWER_TIMEOUT_MS) as ready:
        app.window.setup.modelFolderChosen.emit(str(tiny.model_dir))
    info = ready.args[0]
    assert info.model_name == tiny.model_dir.name
    assert not app.window.is_setup_shown() and app.chat.engine_ready
    saved, notice = load_settings(module_home / "config" / "settings.json")
    assert notice is None and saved.model_dir == str(tiny.model_dir)
    status = app.window.status_line.status
    assert (status.model_state, status.device, status.quantization) == ("Ready", "CPU", "int4")
    assert status.memory_text.endswith("in use")


def test_only_settings_that_change_the_model_reload_it(qtbot, tiny, make):
    app = make(tiny_settings(tiny))
    app.models.start()
    wait_ready(qtbot, app)
    with qtbot.assertNotEmitted(app.bridge.loadProgress, wait=50):
        app.models.update_settings({"temperature": 0.5, "max_answer_tokens": 5})
    assert app.models.settings.max_answer_tokens == 5
    with qtbot.waitSignal(app.models.ready, timeout=ANSWER_TIMEOUT_MS) as ready:
        app.models.update_settings({"quantization": "int8"})
    assert ready.args[0].quantization == "int8"
    assert app.window.status_line.status.quantization == "int8"


def test_a_reload_stops_the_answer_in_progress_first(qtbot, tiny, make):
    app = make(tiny_settings(tiny, max_answer_tokens=400))
    app.models.start()
    wait_ready(qtbot, app)
    with engine_held_at_first_piece(app.bridge) as release:
        with qtbot.waitSignal(app.chat.answerPiece, timeout=ANSWER_TIMEOUT_MS):
            assert app.chat.send("A long answer, please.")
        with qtbot.waitSignal(app.models.ready, timeout=ANSWER_TIMEOUT_MS):
            with qtbot.waitSignal(app.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
                app.models.update_settings({"use_draft": False})
                release.set()
    assert done.args[0] == "cancelled"
    assert app.models.info.drafter is None
    answer = app.store.messages(app.chat.conversation_id)[-1]
    assert answer.status == "cancelled" and answer.stats["generated_tokens"] < 400


def test_a_failed_load_with_a_model_given_on_the_command_line_keeps_the_chat(qtbot, tiny, tmp_path, make):
    app = make(tiny_settings(tiny, model_dir=None), model_override=str(tmp_path / "gone"))
    with qtbot.waitSignal(app.bridge.loadFailed, timeout=ANSWER_TIMEOUT_MS):
        app.models.start()
    assert not app.window.is_setup_shown()  # `seesay --model DIR`: the folder is the user's choice
    assert app.window.banner.kind == "error" and "No model at" in app.window.banner.text()
    assert app.window.status_line.status.model_state == "Model not loaded"


def test_the_settings_dialog_changes_the_running_app(qtbot, tiny, make):
    app = make(tiny_settings(tiny, model_dir=None))
    with qtbot.waitSignal(app.models.settingsChanged, timeout=5000):
        app.window.settingsRequested.emit()
        dialog = app.models._dialog
        assert dialog.isVisible()
        dialog.settingsChanged.emit({"close_to_tray": True, "max_answer_tokens": 77})
    assert app.window.close_to_tray
    assert app.models.settings.max_answer_tokens == 77
    dialog.close()


def test_settings_that_cannot_be_saved_still_apply_and_say_so(tiny, make, tmp_path, monkeypatch):
    app = make(tiny_settings(tiny, model_dir=None))
    blocked = tmp_path / "blocked-home"
    blocked.mkdir()
    (blocked / "config").write_text("a file where the settings folder should be")
    monkeypatch.setenv("SEESAY_HOME", str(blocked))
    app.models.update_settings({"max_answer_tokens": 42})
    assert app.models.settings.max_answer_tokens == 42
    assert "could not be saved" in app.window.banner.text()
