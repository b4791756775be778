"""Fixtures shared by the app's wiring tests."""

import pytest

from tests.app.desktop_kit import running_desktop


@pytest.fixture(scope="module")
def desktop(qapp, tiny, tmp_path_factory, request):
    """One Desktop with the tiny model loading, on its own history, shared by a test module."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with running_desktop(qapp, tiny, folder) as app:
        yield app
