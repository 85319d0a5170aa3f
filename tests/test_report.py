"""report.fmt and report.table: every stored number of the notebooks goes through them."""
import math

import numpy as np
import pytest

from lossurf.report import fmt, table, verdict_lines


@pytest.mark.parametrize("value, digits, want", [
    (0.5, 3, "0.500"), (123.456, 3, "123.456"), (2, 1, "2.0"), (0, 3, "0.000"), (-0.25, 2, "-0.25"),
    (99_999.0, 3, "99999.000"), (100_000.0, 3, "1.00e+05"), (-1.5e8, 3, "-1.50e+08"),
    (0.001, 3, "0.001"), (0.000999, 3, "9.99e-04"), (1e-9, 1, "1.0e-09"), (0.05, 1, "5.0e-02"),
    (np.float32(0.25), 3, "0.250"), (np.int64(7), 3, "7.000"),
    (float("nan"), 3, "nan"), (float("inf"), 3, "inf"), (-math.inf, 3, "-inf"),
    (True, 3, "yes"), (False, 3, "no"), ("as is", 3, "as is")])
def test_fmt(value, digits, want):
    assert fmt(value, digits) == want


def test_table_aligns_columns_first_left_others_right():
    rows = [{"run": "dqn", "score": 494.25, "solved": True}, {"run": "q-network", "score": 9.3, "solved": False}]
    assert table(rows, digits=1).splitlines() == [
        "run        score  solved",
        "---------  -----  ------",
        "dqn        494.2     yes",
        "q-network    9.3      no"]


def test_table_takes_columns_from_the_first_row_and_blanks_missing_cells():
    text = table([{"a": 1.0, "b": "x"}, {"a": 2.0}, {"a": 3.0, "b": "y", "c": 9}], digits=0)
    assert text.splitlines() == ["a  b", "-  -", "1  x", "2   ", "3  y"]
    assert table([]) == "(empty table)"


def test_verdict_lines_keep_only_lines_that_start_with_a_verdict():
    text = "shown: a  \n  shown: indented\nnot shown with these settings: b, because c\nother\nshown:c"
    assert verdict_lines(text) == ["shown: a", "not shown with these settings: b, because c", "shown:c"]


def test_verdict_names_its_claim_in_both_cases_and_the_key_reads_it_back():
    from lossurf.report import verdict, verdict_key, verdict_status
    yes = verdict("clipping tames the largest gradients", True, "v1's largest norm is 118 x v2's")
    no = verdict("clipping tames the largest gradients", False, "v1's largest norm is 0.9 x v2's")
    assert yes == "shown: clipping tames the largest gradients — v1's largest norm is 118 x v2's"
    assert no == ("not shown with these settings: clipping tames the largest gradients — "
                  "measured: v1's largest norm is 0.9 x v2's")
    assert verdict_key(yes) == verdict_key(no) == "clipping tames the largest gradients"
    assert (verdict_status(yes), verdict_status(no)) == ("shown", "not shown")
    assert verdict_key("shown: an old line without a name") is None
    with pytest.raises(ValueError, match="claim"):
        verdict("a — b", True, "c")
