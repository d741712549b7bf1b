"""Hyperparameter declarations and task-file overrides."""

from __future__ import annotations

import pytest

from harness._space import Choice
from harness._space import Float
from harness._space import Int
from harness._space import apply_override


def test_scalar_fixes_a_parameter():
    p = apply_override(Float(0.1, 0.0, 0.5), 0.3)
    assert (p.default, p.is_open) == (0.3, False)


def test_range_narrows_and_keeps_log_scale():
    p = apply_override(Float(1e-3, 1e-5, 1.0, log=True), [1e-4, 1e-2])
    assert (p.low, p.high, p.log, p.is_open) == (1e-4, 1e-2, True, True)
    assert p.default == 1e-3


def test_table_form_sets_scale_and_choices():
    p = apply_override(Int(32, 16, 64), {"low": 8, "high": 128, "log": True})
    assert (p.low, p.high, p.log) == (8, 128, True)
    c = apply_override(Int(32, 16, 64), {"choices": [16, 48]})
    assert (c.kind, c.choices) == ("categorical", (16, 48))


def test_option_becomes_searchable_with_a_list():
    p = Choice(32, (16, 32, 64), search=False)
    assert not p.is_open
    opened = apply_override(p, [16, 32])
    assert opened.is_open and opened.choices == (16, 32)


def test_int_given_for_float_choice_is_accepted():
    assert apply_override(Choice(0.0, (0.0, 0.5)), [0, 0.5]).choices == (0.0, 0.5)


@pytest.mark.parametrize(("param", "value", "message"), [
    (Int(2, 1, 3), 2.5, "expected an integer"),
    (Float(0.1, 0, 1), "x", "expected a number"),
    (Choice("a", ("a", "b")), ["c"], "'c' is not one of"),
    (Choice("a", ("a", "b")), [], "empty list"),
    (Choice("a", ("a", "b")), {"low": 1, "high": 2}, "categorical"),
    (Float(0.1, 0, 1), {"low": 0.1}, "needs both low and high"),
    (Float(0.1, 0, 1), {"lo": 0.1}, "unknown key 'lo'"),
    (Choice(True, (True, False)), [1], "expected a bool"),
])
def test_bad_overrides_explain_themselves(param, value, message):
    with pytest.raises(ValueError, match=message):
        apply_override(param, value)


def test_grid_values_span_the_range():
    assert Float(1e-3, 1e-4, 1e-2, log=True).grid_values() == pytest.approx((1e-4, 1e-3, 1e-2))
    assert Int(2, 1, 3).grid_values() == (1, 2, 3)
    assert apply_override(Int(2, 1, 3), 2).grid_values() == (2,)
