"""Regenerate the teacher's answer key, docs/answer_key.md, by rerunning every "Try it yourself" item.

    python scripts/answer_key.py                  # every notebook (long: one notebook run per item)
    python scripts/answer_key.py --notebooks 01   # only notebook 01; the other sections are kept
    python scripts/answer_key.py --dry-run        # list the reruns, run nothing

Where the reruns come from: each notebook's markdown cell(s) containing "Try it yourself". In that
section every list item (``-``, ``*``, ``1.``) with an inline code span starting with ``--`` is rerun
through the main job,

    python scripts/run_series.py notebooks/<notebook> <the span's arguments> --out runs/answer_key/<stem>/<k>

An item's spans run together as one rerun (``--clip-norm none`` and ``--set LR=0.05`` in one item:
one run with both); a span that sets a parameter the item already set starts another rerun
(``--set CLIP_NORM=0.5`` or ``--set CLIP_NORM=5.0``: two runs).

For every rerun the key records the item, the exact command, the verdict lines the rerun printed
(``shown: ...`` / ``not shown ...``) beside the committed notebook's, paired by the claim they name
(``lossurf.report.verdict_pairs``), and the run time. Per notebook
it also includes ``docs/quiz_answers_<nn>.md`` and ``docs/answer_key_notes_<nn>.md`` (a teacher's notes
on surprising answers) when they exist. The file is rewritten after each rerun, so an interrupted run
leaves the finished items in place.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                    # this checkout's lossurf (for the verdicts), not another installed copy
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_series import notebook_verdicts

KEY = ROOT / "docs" / "answer_key.md"
RUNS = Path("runs") / "answer_key"
TRY = "Try it yourself"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FLAG_PARAMETER = {"--clip-norm": "CLIP_NORM", "--lr": "LR", "--lr-schedule": "LR_SCHEDULE", "--seed": "SEED"}


# ------------------------------------------------------------------------------------------- parsing

def cell_text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _heading(line: str) -> int:
    """Markdown heading level of ``line`` (0 when it is not a heading)."""
    m = re.match(r"^ {0,3}(#{1,6})(\s|$)", line)
    return len(m.group(1)) if m else 0


def try_sections(nb) -> list[str]:
    """The "Try it yourself" text of every markdown cell that has one: from the line naming it to the
    next heading of the same or a higher level (or the end of the cell)."""
    sections = []
    for cell in nb["cells"]:
        if cell.get("cell_type") != "markdown":
            continue
        lines = cell_text(cell).splitlines()
        starts = [i for i, ln in enumerate(lines) if TRY.lower() in ln.lower()]
        if not starts:
            continue
        start = starts[0]
        level = _heading(lines[start]) or 7
        end = next((j for j in range(start + 1, len(lines)) if 0 < _heading(lines[j]) <= level), len(lines))
        sections.append("\n".join(lines[start:end]))
    return sections


ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)$")


def list_items(text: str) -> list[str]:
    """The list items of a markdown text, each joined onto one line (nested items are items too)."""
    items: list[list[str]] = []
    open_item = False
    blank = False
    for line in text.splitlines():
        m = ITEM.match(line)
        if m:
            items.append([m.group(2).strip()])
            open_item, blank = True, False
        elif not line.strip():
            blank = True
        elif open_item and not _heading(line) and (not blank or line.startswith(("  ", "\t"))):
            items[-1].append(line.strip())
            blank = False
        else:
            open_item = False
    return [" ".join(parts) for parts in items]


SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def code_spans(text: str) -> list[str]:
    """Inline code spans of a markdown text (CommonMark: one leading and trailing space stripped)."""
    spans = []
    for m in SPAN.finditer(text):
        s = m.group(2).replace("\n", " ")
        if len(s) > 2 and s.startswith(" ") and s.endswith(" ") and s.strip():
            s = s[1:-1]
        spans.append(s)
    return spans


def _keys(args: list[str]) -> list[str]:
    """What a list of run_series arguments sets: parameter names for --set and the named flags, else the flag."""
    keys = []
    for i, a in enumerate(args):
        if a == "--set" and i + 1 < len(args):
            keys.append(args[i + 1].partition("=")[0].strip())
        elif a.startswith("--set="):
            keys.append(a[len("--set="):].partition("=")[0].strip())
        elif a.startswith("--"):
            flag = a.partition("=")[0]
            keys.append(FLAG_PARAMETER.get(flag, flag))
    return keys


def item_reruns(item: str) -> list[list[str]]:
    """The reruns one item asks for: its ``--`` code spans as argument lists, spans joined into one
    rerun unless a span sets something the rerun already sets (then it starts another)."""
    runs: list[list[str]] = []
    seen: set[str] = set()
    for span in code_spans(item):
        if not span.lstrip().startswith("--"):
            continue
        args = shlex.split(span)
        keys = set(_keys(args))
        if not runs or keys & seen:
            runs.append([])
            seen = set()
        runs[-1] += args
        seen |= keys
    return runs


def strip_markdown(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Rerun:
    item: str                        # the item's text
    args: list[str]                  # run_series arguments from the item
    item_number: int                 # the item's place in the notebook's list, from 1
    number: int                      # k in runs/answer_key/<stem>/<k>
    command: list[str] = field(default_factory=list)
    verdicts: list[str] | None = None
    seconds: float | None = None
    load: float | None = None
    failed: str | None = None        # the error, when the rerun failed
    when: str | None = None          # when it ran (UTC)
    source: str | None = None        # sha1 of the notebook file it reran

    def record(self) -> str:
        """The measured result as an HTML comment (invisible on GitHub), so ``--resume`` can reuse it."""
        data = {k: getattr(self, k) for k in ("command", "verdicts", "seconds", "load", "failed", "when", "source")}
        return "<!-- rerun-record " + json.dumps(data, ensure_ascii=False).replace("--", "\\u002d\\u002d") + " -->"


RECORD = re.compile(r"<!-- rerun-record (\{.*?\}) -->")


def records(lines: list[str]) -> dict[str, dict]:
    """Measured reruns in an existing key's block, by command."""
    out = {}
    for m in RECORD.finditer("\n".join(lines)):
        data = json.loads(m.group(1))
        out[shlex.join(data["command"])] = data
    return out


def file_sha(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def try_items(nb) -> list[str]:
    """Every list item of the notebook's "Try it yourself" sections, in order."""
    return [strip_markdown(item) for section in try_sections(nb) for item in list_items(section)]


def reruns(nb, notebook: Path, runs_dir: Path = RUNS) -> list[Rerun]:
    """Every rerun the notebook's "Try it yourself" items ask for, numbered from 1, with its command."""
    out: list[Rerun] = []
    rel = _rel(notebook)
    for n, item in enumerate(try_items(nb), 1):
        for args in item_reruns(item):
            k = len(out) + 1
            run = Rerun(item=item, args=args, item_number=n, number=k)
            run.command = ["python", "scripts/run_series.py", rel, *args,
                           "--out", (runs_dir / notebook.stem / str(k)).as_posix()]
            out.append(run)
    return out


def verdict_lines(stdout: str) -> list[str]:
    """Verdict lines in a rerun's printed output."""
    from lossurf.report import verdict_lines         # imported when needed: lossurf imports torch

    return verdict_lines(ANSI.sub("", stdout))


def error_summary(stderr: str, lines: int = 6) -> str:
    """The last lines of an error message, without terminal colours."""
    text = [ln.rstrip() for ln in ANSI.sub("", stderr).splitlines() if ln.strip() and "WARNING |" not in ln]
    return "\n".join(text[-lines:])


def _rel(path: Path | str) -> str:
    path = (ROOT / path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------- running

def run(rerun: Rerun) -> Rerun:
    """Execute one rerun through scripts/run_series.py and record what it printed and how long it took."""
    env = dict(os.environ, LOSSURF_PROGRESS="0")
    rerun.load = os.getloadavg()[0]
    rerun.when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t = time.perf_counter()
    done = subprocess.run([sys.executable, *rerun.command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    rerun.seconds = time.perf_counter() - t
    rerun.verdicts = verdict_lines(done.stdout)
    if done.returncode != 0:
        rerun.failed = error_summary(done.stderr) or error_summary(done.stdout) or f"exit status {done.returncode}"
    return rerun


def rounded(seconds: float) -> str:
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5):.0f} s"
    return f"{round(seconds / 60):.0f} min"


# ----------------------------------------------------------------------------------------- rendering

def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "—"


def verdict_table(committed: list[str], rerun: list[str]) -> list[str]:
    """Committed notebook's verdicts beside the rerun's, paired by claim (``lossurf.report.verdict_pairs``),
    not by position: "(same)" where the line is unchanged, "—" where one side printed no such verdict."""
    from lossurf.report import verdict_pairs          # imported when needed: lossurf imports torch

    rows = ["| committed notebook | this rerun |", "|---|---|"]
    for pair in verdict_pairs(committed, rerun):
        if pair.committed == pair.rerun:
            rows.append(f"| {_cell(pair.committed)} | (same) |")
            continue
        right = _cell(f"**{pair.rerun}**" if pair.rerun else "")
        where = " _(paired by position)_" if pair.by_position else ""
        rows.append(f"| {_cell(pair.committed or '')} | {right}{where} |")
    return rows


def render_runs(notebook: Path, texts: list[str], items: list[Rerun], committed: list[str]) -> list[str]:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", _rel(notebook)], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip() or "uncommitted"
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", _rel(notebook)], cwd=ROOT,
                           capture_output=True, check=False).returncode != 0
    commit += " plus uncommitted changes" if dirty and commit != "uncommitted" else ""
    intro = (f"Generated {when} from `{_rel(notebook)}` as of commit `{commit}`; every rerun starts from the "
             f"notebook's own parameters and changes only what its command says. Bold: a verdict that differs "
             f"from the committed notebook's. The rerun notebooks and figures are in "
             f"`runs/answer_key/{notebook.stem}/<k>/` (not committed).")
    lines = [intro, ""]
    if not texts:
        lines += ["_The notebook has no \"Try it yourself\" list._", ""]
    for n, text in enumerate(texts, 1):
        lines += [f"#### Item {n}: {text}", ""]
        mine = [r for r in items if r.item_number == n]
        if not mine:
            lines += ["_No command to rerun: the item has no code span starting with `--`._", ""]
        for r in mine:
            lines += _rerun_lines(r, committed)
    return lines


def _rerun_lines(r: Rerun, committed: list[str]) -> list[str]:
    lines = [f"**Rerun {r.number}**: `{shlex.join(r.command)}`", ""]
    if r.seconds is None:
        return lines + ["_Not rerun yet._", ""]
    load = f", load average {r.load:.1f} at its start on a 2-core CPU" if r.load is not None else ""
    lines += [r.record(), f"Run time: {rounded(r.seconds)} (measured {r.when}{load}).", ""]
    if r.failed:
        lines += ["The rerun **failed**:", "", "```", r.failed, "```", ""]
    if not committed and not r.verdicts:
        return lines + ["_Neither the committed notebook nor the rerun printed a verdict line._", ""]
    return lines + verdict_table(committed, r.verdicts or []) + [""]


def notebook_number(notebook: Path) -> str:
    return notebook.stem.split("_")[0]


def notebook_title(nb, notebook: Path) -> str:
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            for ln in cell_text(cell).splitlines():
                if _heading(ln) == 1:
                    return ln.lstrip("# ").strip()
    return notebook.stem


def include(path: Path, heading: str, shift: int = 2) -> list[str]:
    """A markdown file under ``heading``, its own headings moved ``shift`` levels down."""
    if not path.is_file():
        return []
    out = [heading, "", f"_From [`{path.name}`]({path.name})._", ""]
    for ln in path.read_text().splitlines():
        level = _heading(ln)
        out.append("#" * min(6, level + shift) + ln.lstrip()[level:] if level else ln)
    return out + [""]


def begin(stem: str, tag: str = "answer-key") -> str:
    return f"<!-- {tag} {stem} reruns: begin -->"


def end(stem: str, tag: str = "answer-key") -> str:
    return f"<!-- {tag} {stem} reruns: end -->"


def kept_blocks(text: str, tag: str = "answer-key") -> dict[str, list[str]]:
    """The rerun blocks of an existing generated file (the answer key, or another ``tag``'s), by notebook stem."""
    blocks = {}
    t = re.escape(tag)
    for m in re.finditer(rf"<!-- {t} (\w+) reruns: begin -->\n(.*?)<!-- {t} \1 reruns: end -->", text, re.DOTALL):
        blocks[m.group(1)] = m.group(2).rstrip("\n").split("\n")
    return blocks


def rewrite(path: Path, mine: dict[str, list[str]], render_with, tag: str = "answer-key") -> None:
    """Rewrite ``path`` with this run's blocks ``mine``; every other block is taken from the file as it is
    now, so runs for different notebooks at the same time do not undo each other's work.
    ``render_with(blocks)`` returns the whole file's text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"{path.stem}-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = kept_blocks(path.read_text(), tag) if path.is_file() else {}
        current.update(mine)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render_with(current))
        tmp.replace(path)


def render(notebooks: list[Path], blocks: dict[str, list[str]], docs: Path) -> str:
    import nbformat

    intro = ("Every \"Try it yourself\" item of the notebooks, rerun through the main job "
             "(`scripts/run_series.py ... --set ... --out ...`) and recorded here with the verdicts it printed, "
             "beside the committed notebook's, so you see what the change does before the class tries it. "
             "Regenerate with one command from the repository root:")
    timing = ("Run times are wall-clock on the machine that generated the key (its load is given); "
              "a notebook's verdicts are its own `shown: ...` / `not shown with these settings: ...` lines, "
              "paired with the committed notebook's by the claim they name, not by their place. Which verdicts "
              "hold on other seeds and on other CPU arithmetic: [`robustness.md`](robustness.md).")
    lines = ["# Teacher's answer key — measured, not guessed", "", intro, "",
             "```bash", "python scripts/answer_key.py                  # every notebook, one run per item",
             "python scripts/answer_key.py --notebooks 01   # one notebook; the others' sections are kept",
             "python scripts/answer_key.py --dry-run        # list the commands only", "```", "",
             timing, ""]
    for notebook in notebooks:
        if not notebook.is_file():                  # removed while the reruns ran
            continue
        nn = notebook_number(notebook)
        nb = nbformat.read(notebook, as_version=4)
        block = blocks.get(notebook.stem) or blocks.get(nn)    # ``nn``: the first keys' markers
        link = Path(os.path.relpath(notebook.resolve(), docs.resolve())).as_posix()
        lines += [f"## {notebook_title(nb, notebook)}", "", f"Notebook: [`{_rel(notebook)}`]({link})", "",
                  "### Try it yourself, rerun", "", begin(notebook.stem)]
        lines += block or [f"_Not generated yet: `python scripts/answer_key.py --notebooks {nn}`._"]
        lines += [end(notebook.stem), ""]
        lines += include(docs / f"answer_key_notes_{nn}.md", "### Teacher's notes")
        lines += include(docs / f"quiz_answers_{nn}.md", "### Quiz answers")
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------------------------ main

def listed(notebook_dir: Path) -> list[Path]:
    """The notebooks the key covers: the ones git tracks in ``notebook_dir`` (so scratch copies lying
    there stay out), or every ``*.ipynb`` there outside a git work tree."""
    done = subprocess.run(["git", "ls-files", "--", "*.ipynb"], cwd=notebook_dir, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return sorted(notebook_dir.glob("*.ipynb"))
    return sorted(notebook_dir / name for name in done.stdout.split("\n") if name and "/" not in name)


def select(patterns: list[str] | None, notebook_dir: Path) -> list[Path]:
    if not patterns:
        return listed(notebook_dir)
    every = sorted(notebook_dir.glob("*.ipynb"))
    chosen = []
    for p in patterns:
        hits = [nb for nb in every if nb.stem == Path(p).stem or nb.stem.startswith(p) or nb.name == Path(p).name]
        if not hits:
            raise SystemExit(f"--notebooks {p}: no such notebook in {_rel(notebook_dir)} "
                             f"({', '.join(nb.stem for nb in every)})")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Rerun every 'Try it yourself' item and write docs/answer_key.md.")
    ap.add_argument("--notebooks", nargs="+", metavar="NN", help="only these notebooks (01, 02_qnetwork..., or a path)")
    ap.add_argument("--dry-run", action="store_true", help="list the reruns, run nothing, write nothing")
    ap.add_argument("--key", default=str(KEY), help="the answer key to write (default docs/answer_key.md)")
    ap.add_argument("--notebook-dir", default=str(ROOT / "notebooks"), help="where the notebooks are (default notebooks/)")
    ap.add_argument("--runs", default=str(RUNS), help="where the reruns go (default runs/answer_key)")
    ap.add_argument("--resume", action="store_true",
                    help="keep reruns the existing key already measured on the same notebook file (same command)")
    ap.add_argument("--no-run", action="store_true",
                    help="rewrite the key from the measurements it already holds (as --resume), running nothing: "
                         "after a quiz or notes file changed")
    args = ap.parse_args(argv)

    import nbformat

    notebook_dir = Path(args.notebook_dir).resolve()
    chosen = select(args.notebooks, notebook_dir)
    every = sorted(set(listed(notebook_dir)) | set(chosen))
    key = Path(args.key)
    blocks = kept_blocks(key.read_text()) if key.is_file() else {}
    plans = {}
    for notebook in chosen:
        nb = nbformat.read(notebook, as_version=4)
        plans[notebook] = (try_items(nb), reruns(nb, notebook, Path(args.runs)), notebook_verdicts(nb))
        print(f"{notebook.name}: {len(plans[notebook][0])} items, {len(plans[notebook][1])} reruns", flush=True)
        for r in plans[notebook][1]:
            print(f"  {r.number}. {shlex.join(r.command)}", flush=True)
    if args.dry_run:
        return 0

    mine = {notebook.stem for notebook in chosen}

    def write():
        """Rewrite the key with this run's sections, the others as the file holds them now."""
        rewrite(key, {stem: block for stem, block in blocks.items() if stem in mine},
                lambda current: render(every, current, key.parent))

    failures = 0
    for notebook, (texts, items, committed) in plans.items():
        stem = notebook.stem
        sha = file_sha(notebook)
        done = records(blocks.get(stem) or blocks.get(notebook_number(notebook)) or []) if args.resume or args.no_run else {}
        for r in items:
            old = done.get(shlex.join(r.command))
            if old and old.get("source") == sha and old.get("seconds") is not None:
                for k in ("verdicts", "seconds", "load", "failed", "when", "source"):
                    setattr(r, k, old.get(k))
        blocks[stem] = render_runs(notebook, texts, items, committed)
        write()
        for r in items:
            if args.no_run:
                break
            if r.seconds is not None:
                print(f"{notebook.stem} rerun {r.number}: kept from {r.when}", flush=True)
                continue
            print(f"{notebook.stem} rerun {r.number}: {shlex.join(r.args)} ...", flush=True)
            r.source = sha
            run(r)
            failures += bool(r.failed)
            print(f"  {rounded(r.seconds)}{', FAILED' if r.failed else ''}", flush=True)
            for line in r.verdicts:
                print(f"  {line}", flush=True)
            blocks[stem] = render_runs(notebook, texts, items, committed)
            write()
    print(f"wrote {_rel(key)}" + (f" ({failures} reruns failed: see the key)" if failures else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
