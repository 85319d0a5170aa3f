"""The robustness table (scripts/robustness.py) and the pairing of verdicts by claim that it shares with the
answer key (lossurf.report.verdict_pairs): seed discovery and shifting, pairing, rendering, section keeping."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lossurf import arithmetic
from lossurf.report import VerdictPair, pairing_key, verdict_pairs
from tests.script_helpers import code_cell as _code
from tests.script_helpers import load_script as _load
from tests.script_helpers import notebook as _nb

ROOT = Path(__file__).resolve().parents[1]




rb = _load("robustness")
ak = sys.modules["answer_key"]

PARAMS = '''SEED = 0                 # the seed drawn in detail
SEEDS = (0, 1, 2)        # every configuration runs once per seed
LR = 2.3e-3
EVAL_seed: int = 7
env_seeds = [3, 4]
HIDDEN = (32, 32)        # a tuple of ints, but not a seed
'''


# ------------------------------------------------------------------------------- seed parameters

def test_seed_parameters_are_found_by_name_in_the_parameters_cell():
    assert rb.seed_parameters(PARAMS) == {"SEED": 0, "SEEDS": (0, 1, 2), "EVAL_seed": 7, "env_seeds": [3, 4]}
    assert rb.seed_parameters("LR = 0.1\nGRID = 21\n") == {}


@pytest.mark.parametrize("source, message", [
    ("SEED = BASE + 1\n", "SEED = BASE \\+ 1 is not a literal"),
    ("SEED = None\n", "SEED = None is not a seed"),
    ("SEEDS = (0, 'a')\n", "is not a seed"),
    ("SEED = True\n", "is not a seed"),
    ("SEED, LR = 1, 0.1\n", "give it a line of its own"),
    ("SEED = 0\nSEED += 1\n", "give it a line of its own"),
])
def test_a_seed_that_cannot_be_shifted_is_an_error_naming_it(source, message):
    with pytest.raises(ValueError, match=message):
        rb.seed_parameters(source, "nb.ipynb")


def test_shifting_keeps_the_type_and_refuses_negative_seeds():
    assert rb.shifted("SEED", 0, 2) == 2
    assert rb.shifted("SEEDS", (0, 1, 2), 1) == (1, 2, 3) and type(rb.shifted("SEEDS", (0, 1), 1)) is tuple
    assert rb.shifted("S", [3, 4], -3) == [0, 1]
    with pytest.raises(ValueError, match=r"SEEDS = \(0, 1\) shifted by -1 gives \(-1, 0\).*use a positive shift"):
        rb.shifted("SEEDS", (0, 1), -1)
    with pytest.raises(ValueError, match="use a shift of at least -3"):
        rb.shifted("SEEDS", (3, 4), -5)






def _printed(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_seed_overrides_need_a_parameters_cell_with_a_seed():
    assert rb.seed_overrides(_nb(_code("import x"), _code(PARAMS, ["parameters"])), 3, "nb") == {
        "SEED": 3, "SEEDS": (3, 4, 5), "EVAL_seed": 10, "env_seeds": [6, 7]}
    with pytest.raises(ValueError, match="no code cell tagged 'parameters'"):
        rb.seed_overrides(_nb(_code("SEED = 0")), 1, "nb")
    with pytest.raises(ValueError, match="assigns no name containing SEED"):
        rb.seed_overrides(_nb(_code("LR = 1", ["parameters"])), 1, "nb")


def test_plan_for_notebook_02_shifts_both_seed_parameters_and_pins_all_but_the_kernels():
    path = ROOT / "notebooks" / "02_qnetwork_loss_surface.ipynb"
    reruns = rb.plan(nbformat.read(path, as_version=4), path, [1, 2], ["default"])
    assert [r.name for r in reruns] == ["seeds+1", "seeds+2", "cpu-default"]
    assert reruns[0].command == ["python", "scripts/run_series.py", "notebooks/02_qnetwork_loss_surface.ipynb",
                                 "--set", "SEED=1", "--set", "SEEDS=(1, 2, 3, 4, 5)",
                                 "--out", "runs/robustness/02_qnetwork_loss_surface/seeds+1"]
    assert reruns[0].env == {"LOSSURF_ARITHMETIC": "reference"}
    assert reruns[1].what == "SEED = 2, SEEDS = (2, 3, 4, 5, 6)"
    env = reruns[2].env
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["LOSSURF_ARITHMETIC"] == "native"
    assert {k: v for k, v in env.items() if k not in ("ATEN_CPU_CAPABILITY", "LOSSURF_ARITHMETIC")} == {
        k: v for k, v in arithmetic.PINS.items() if k != "ATEN_CPU_CAPABILITY"}
    assert "--set" not in reruns[2].command
    assert reruns[2].shell().startswith("ATEN_CPU_CAPABILITY=default ")
    assert "'SEEDS=(1, 2, 3, 4, 5)'" in reruns[0].shell()


def test_native_keeps_the_users_capability_and_reference_replaces_it():
    """The switch the capability reruns rely on: with LOSSURF_ARITHMETIC=native nothing is pinned."""
    machine = arithmetic.Machine("x86_64", frozenset({"avx2", "fma"}))
    env = {"ATEN_CPU_CAPABILITY": "default"}
    arithmetic.apply(arithmetic.choose_mode(machine, "native"), env)
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    arithmetic.apply(arithmetic.choose_mode(machine, "reference"), env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"


# ------------------------------------------------------------------------------------- pairing

NEW = ["shown: clipping tames the largest gradients — v1's largest norm is 110 x v2's",
       "shown: v2 ends more accurate — test accuracy 0.845 against 0.100",
       "not shown with these settings: the parabola fits — measured: within 10% for |a| < 0.11"]


def test_pairing_key_is_the_claim_or_the_old_line_with_numbers_masked():
    assert pairing_key(NEW[2]) == "the parabola fits"
    assert pairing_key("shown: v1's gradient exploded: its largest norm is 4094 x its median") == \
        pairing_key("shown: v1's gradient exploded: its largest norm is 93.9 x its median")
    assert pairing_key("not shown with these settings: v1 died at loss 2.31, because it ends at 0.40") == \
        pairing_key("not shown with these settings: v1 died at loss 2.12, because accuracy 0.198") == "v1 died at loss #"
    assert pairing_key("shown: it halved the LR 5 times, at steps 131, 144, 157") == \
        pairing_key("shown: it halved the LR 2 times, at steps 90, 157")
    assert pairing_key("shown: a x1.32 at a = 1.5") != pairing_key("shown: b x1.32 at a = 1.5")


def test_pairs_follow_the_claim_when_a_rerun_reorders_and_changes_numbers():
    rerun = ["shown: v2 ends more accurate — test accuracy 0.899 against 0.100",
             "shown: the parabola fits — within 10% for |a| < 0.16",
             "not shown with these settings: clipping tames the largest gradients — measured: 0.9 x"]
    pairs = verdict_pairs(NEW, rerun)
    assert [(p.committed, p.rerun) for p in pairs] == [(NEW[0], rerun[2]), (NEW[1], rerun[0]), (NEW[2], rerun[1])]
    assert not any(p.by_position for p in pairs)


def test_a_missing_verdict_leaves_a_gap_instead_of_shifting_the_rest():
    old = ["shown: a ran 3 steps", "shown: b ran 4 steps", "shown: c ran 5 steps"]
    rerun = ["shown: a ran 6 steps", "shown: c ran 8 steps", "shown: d is new"]
    assert verdict_pairs(old, rerun) == [VerdictPair(old[0], rerun[0]), VerdictPair(old[1], None),
                                         VerdictPair(old[2], rerun[1]), VerdictPair(None, rerun[2])]


def test_lines_no_key_pairs_pair_by_position_within_their_gap():
    old = ["shown: Huber blows up on every seed", "shown: MSE learns", "shown: clipping caps SGD's step"]
    rerun = ["shown: Huber blows up on every seed", "not shown with these settings: MSE did not beat random",
             "shown: clipping caps SGD's step"]
    pairs = verdict_pairs(old, rerun)
    assert pairs[1] == VerdictPair(old[1], rerun[1], by_position=True)
    assert [p.by_position for p in pairs] == [False, True, False]
    swapped = verdict_pairs(["shown: x", "shown: y", "shown: z"], ["shown: z", "shown: q", "shown: x"])
    assert VerdictPair("shown: y", None) in swapped          # its neighbours swapped: no place to pair it by
    assert VerdictPair(None, "shown: q") in swapped


def test_a_key_printed_twice_pairs_first_with_first():
    pairs = verdict_pairs(["shown: a 1", "shown: a 2"], ["shown: a 3", "shown: a 4"])
    assert [(p.committed, p.rerun) for p in pairs] == [("shown: a 1", "shown: a 3"), ("shown: a 2", "shown: a 4")]


def test_the_answer_key_table_pairs_by_claim_when_the_rerun_prints_one_verdict_fewer():
    old = ["shown: a — 1", "shown: b — 2", "shown: c — 3"]
    rows = ak.verdict_table(old, ["shown: a — 1", "not shown with these settings: c — measured: 4"])
    assert rows[2:] == ["| shown: a — 1 | (same) |", "| shown: b — 2 | — |",
                        "| shown: c — 3 | **not shown with these settings: c — measured: 4** |"]
    assert ak.verdict_table(["shown: a — 1"], ["shown: a — 1", "shown: new — 2"])[3] == "| — | **shown: new — 2** |"


# ------------------------------------------------------------------------------------- rendering

COMMITTED = ["shown: alpha — 1", "shown: beta — 2", "not shown with these settings: gamma — measured: 3"]


def _done(name, verdicts, failed=None, seconds=70.2):
    r = rb.Rerun(name, f"what {name}", {"LOSSURF_ARITHMETIC": "reference"},
                 ["python", "scripts/run_series.py", "notebooks/x.ipynb", "--out", f"runs/robustness/x/{name}"])
    r.verdicts, r.seconds, r.failed, r.load, r.when = verdicts, seconds, failed, 1.25, "2026-01-01 00:00 UTC"
    r.commit, r.kernels, r.inherited, r.niceness = "abc1234", "AVX2", {"OMP_WAIT_POLICY": "PASSIVE"}, 19
    return r


def _fake_reruns():
    return [_done("seeds+1", ["shown: beta — 5", "shown: alpha — 4", "not shown with these settings: gamma — measured: 6"]),
            _done("seeds+2", ["not shown with these settings: alpha — measured: 0", "shown: extra — 9"]),
            _done("cpu-default", ["shown: alpha — 1"], failed="RuntimeError: boom"),
            rb.Rerun("later", "not yet", {}, ["python", "x"])]


def test_table_marks_every_status_and_counts_what_held():
    reruns = _fake_reruns()
    results = [rb.outcomes(COMMITTED, r)[0] for r in reruns]
    rows = rb.verdict_rows(COMMITTED, reruns, results)
    assert rows[0] == "| # | verdict of the committed notebook | committed | seeds+1 | seeds+2 | cpu-default | later | held on |"
    assert rows[2] == "| 1 | shown: alpha — 1 | shown | shown | **not shown** | **shown (then crashed)** | not run | 1 of 3 |"
    assert rows[3] == "| 2 | shown: beta — 2 | shown | shown | **missing** | **crashed** | not run | 1 of 3 |"
    assert rows[4] == ("| 3 | not shown with these settings: gamma — measured: 3 | not shown | not shown | **missing** "
                       "| **crashed** | not run | 1 of 3 |")
    assert rb.summary(COMMITTED, results) == ("**Verdicts unchanged in 3 of 9 (33.3%)**: 3 verdicts on 3 reruns; "
                                              "0 of 3 verdicts held on every rerun (1 rerun not run yet).")
    assert rb.summary([], results).startswith("_The committed notebook prints no verdict")


def test_section_names_what_did_not_hold_the_commands_and_the_crash():
    text = "\n".join(rb.render_section(ROOT / "notebooks" / "02_qnetwork_loss_surface.ipynb", COMMITTED, _fake_reruns()))
    assert "- **1.** shown: alpha — 1\n  - seeds+2: not shown with these settings: alpha — measured: 0\n- **2.**" in text
    assert "cpu-default crashed: none of its verdicts count as held" in text
    assert "Printed only by a rerun (no committed verdict pairs with it):\n\n- seeds+2: shown: extra — 9" in text
    assert ("- **seeds+1**: what seeds+1\n  - command: `LOSSURF_ARITHMETIC=reference python scripts/run_series.py "
            "notebooks/x.ipynb --out runs/robustness/x/seeds+1`\n  - ran 2026-01-01 00:00 UTC: wall time 70 s, "
            "load average 1.2 at its start") in text
    assert "niceness 19; commit `abc1234`; PyTorch kernels AVX2; arithmetic variables inherited: OMP_WAIT_POLICY=PASSIVE" in text
    assert "  - it **crashed**:\n\n    ```\n    RuntimeError: boom\n    ```" in text
    assert "- **later**: not yet\n  - command: `python x`\n  - _not run yet_" in text
    assert text.count("<!-- robustness-record ") == 3


def test_records_round_trip_for_resume():
    r = _done("seeds+1", ["shown: a — 1"])
    r.source = "f" * 40
    back = rb.records(["x", r.record(), "y"])[r.shell()]
    assert {k: back[k] for k in rb.Rerun.FIELDS} == {k: getattr(r, k) for k in rb.Rerun.FIELDS}
    assert "--" not in r.record()[4:-3]                   # an HTML comment may not hold "--"


def test_run_records_the_verdicts_the_error_the_environment_and_where_it_ran(monkeypatch):
    monkeypatch.setattr(rb, "kernels", lambda env: f"asked {env['ATEN_CPU_CAPABILITY']}")
    monkeypatch.setattr(rb, "ENVIRON", {"OMP_WAIT_POLICY": "PASSIVE", "HOME": "/x", "PATH": "/usr/bin:/bin"})
    script = ("import os, sys; print('arithmetic: x'); print('shown: a — ' + os.environ['ATEN_CPU_CAPABILITY']); "
              "print('Traceback\\nValueError: no', file=sys.stderr); sys.exit(1)")
    r = rb.Rerun("cpu-default", "kernels", {"ATEN_CPU_CAPABILITY": "default"}, ["python", "-c", script])
    rb.run(r, ROOT / "notebooks" / "02_qnetwork_loss_surface.ipynb")
    assert r.verdicts == ["shown: a — default"] and r.failed == "Traceback\nValueError: no"
    assert r.kernels == "asked default" and r.inherited == {"OMP_WAIT_POLICY": "PASSIVE"}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert r.commit.startswith(head) and r.seconds > 0 and r.load >= 0 and r.when.endswith("UTC")


def _notebook_dir(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    for stem in ["01_a", "02_b"]:
        nbformat.write(_nb(nbformat.v4.new_markdown_cell(f"# Lesson {stem}"),
                           _code("SEED = 0\nSEEDS = (0, 1)", ["parameters"]),
                           _code("print()", outputs=[_printed("shown: it works — 1\n")])), nbdir / f"{stem}.ipynb")
    return nbdir


def test_writing_one_notebook_keeps_the_other_sections(tmp_path):
    nbdir = _notebook_dir(tmp_path)
    every, doc = sorted(nbdir.glob("*.ipynb")), tmp_path / "docs" / "robustness.md"
    doc.parent.mkdir()
    doc.write_text(rb.render(every, {"01_a": ["old 01 block"], "02_b": ["old 02 block"]}, doc.parent))
    rb.write(doc, every, every[0], ["shown: it works — 1"], [_done("seeds+1", ["shown: it works — 2"])])
    text = doc.read_text()
    assert "old 02 block" in text and "old 01 block" not in text
    assert "**Verdicts unchanged in 1 of 1 (100.0%)**" in text
    assert text.index("## Lesson 01_a") < text.index("unchanged in 1 of 1") < text.index("## Lesson 02_b")
    assert "Notebook: [`" in text and "](../notebooks/01_a.ipynb)" in text
    assert set(ak.kept_blocks(text, rb.TAG)) == {"01_a", "02_b"} and ak.kept_blocks(text) == {}


def test_dry_run_lists_every_command_and_writes_nothing(tmp_path, capsys):
    nbdir, doc = _notebook_dir(tmp_path), tmp_path / "robustness.md"
    assert rb.main(["--dry-run", "--notebook-dir", str(nbdir), "--doc", str(doc), "--notebooks", "02",
                    "--shifts", "1", "3", "--capabilities", "default"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "02_b.ipynb: 1 verdicts, 3 reruns"
    assert out[1].startswith("  seeds+1: LOSSURF_ARITHMETIC=reference python scripts/run_series.py ")
    assert out[1].endswith("02_b.ipynb --set SEED=1 --set 'SEEDS=(1, 2)' --out runs/robustness/02_b/seeds+1")
    assert "--set SEED=3 --set 'SEEDS=(3, 4)'" in out[2]
    assert out[3].startswith("  cpu-default: ATEN_CPU_CAPABILITY=default ") and "LOSSURF_ARITHMETIC=native" in out[3]
    assert len(out) == 4 and not doc.exists()


def test_bad_arguments_are_errors_that_say_what_to_do(tmp_path, capsys):
    nbdir = _notebook_dir(tmp_path)
    with pytest.raises(SystemExit, match="use a positive shift"):
        rb.main(["--dry-run", "--notebook-dir", str(nbdir), "--shifts", "-1"])
    with pytest.raises(SystemExit):
        rb.main(["--dry-run", "--notebook-dir", str(nbdir), "--shifts", "0"])
    assert "--shifts 0 is the committed run itself" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rb.main(["--dry-run", "--notebook-dir", str(nbdir), "--shifts", "--capabilities"])
    assert "nothing to rerun" in capsys.readouterr().err


# ------------------------------------------------------------------------------ end to end (slow)
