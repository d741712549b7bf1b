"""The suite's own helpers can fail."""

from __future__ import annotations

from tests.conftest import says


def test_says_is_not_fooled_by_a_longer_count():
    assert says("5 passed, 0 failed", "5 passed")
    assert not says("15 passed, 0 failed", "5 passed")
    assert not says("2.5 passed", "5 passed")
    assert not says("ran 1 trial(s)s", "ran 1 trial(s)s ") and not says("ran 12", "ran 1")
