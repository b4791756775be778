"""The status line shows what the model is doing, with a coloured dot, and hides empty parts."""

from ui.status_line import StatusLine, state_colour
from ui.theme import LIGHT, apply_theme
from ui.view_models import StatusView


def test_status_dot_colour_follows_the_state(app, qtbot):
    apply_theme(app, dark=False)
    assert state_colour("Ready") == LIGHT.success
    assert state_colour("Loading model…") == LIGHT.warning
    assert state_colour("No model") == LIGHT.muted
    line = StatusLine()
    qtbot.addWidget(line)
    line.set_status(StatusView("Ready", "CUDA", "int4", "7.1 GB in use", None))
    assert not line.speed.isVisibleTo(line) and line.device.text() == "CUDA"
    assert "Ready, CUDA, int4, 7.1 GB in use" == line.accessibleDescription()
