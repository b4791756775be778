"""Image detail: the five budgets the model takes, labelled, with a default and the nearest match."""

import pytest

from ui.detail_picker import DETAIL_LEVELS, DetailPicker, detail_label, nearest_detail


def test_budgets_match_what_the_model_takes():
    # inference.media.IMAGE_DETAILS; ui/ may not import inference/, so compare here.
    from inference.media import IMAGE_DETAILS
    assert tuple(value for value, _ in DETAIL_LEVELS) == IMAGE_DETAILS


@pytest.mark.parametrize("asked, offered", [(70, 70), (0, 70), (100, 70), (105, 70), (106, 140),
                                            (400, 280), (5000, 1120)])
def test_nearest_detail(asked, offered):
    assert nearest_detail(asked) == offered


def test_labels():
    assert detail_label(70) == "Low 70" and detail_label(1120) == "Max 1120" and detail_label(99) == "99"


def test_picker_emits_the_chosen_budget(qtbot):
    picker = DetailPicker()
    qtbot.addWidget(picker)
    assert picker.detail() == 280
    with qtbot.waitSignal(picker.detailChanged) as changed:
        picker.setCurrentIndex(4)
    assert changed.args == [1120]
