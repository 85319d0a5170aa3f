"""docs/ko/robustness.md: the Korean summary of docs/robustness.md, made from it (never edited by hand).

For each notebook it gives the share of verdicts that held on the reruns (other seed sets, other CPU
kernels) and lists every verdict by its claim, with the reruns it held on; a verdict that did not hold
everywhere is marked, with what the rerun printed. The claims stay English: they are the lines the
notebooks print. ``scripts/robustness.py`` rewrites this file whenever it rewrites the English one.

    python scripts/robustness_ko.py            # rewrite docs/ko/robustness.md from docs/robustness.md
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "docs" / "robustness.md"
KOREAN = ROOT / "docs" / "ko" / "robustness.md"
TITLES = {"01": "01 · 손실 곡면은 어떻게 생겼나 (MNIST)", "02": "02 · 온라인 Q-러닝 (Q-Network, CartPole)",
          "03": "03 · DQN의 무엇이 효과를 내나 (CartPole)"}
RERUNS = {"seeds+1": "시드 +1", "seeds+2": "시드 +2", "cpu-default": "기본 CPU 커널"}
SUMMARY = re.compile(r"\*\*Verdicts unchanged in (\d+) of (\d+) \(([\d.]+)%\)\*\*: (\d+) verdicts on (\d+) reruns; "
                     r"(\d+) of (\d+) verdicts held on every rerun")
SECTION = re.compile(r"<!-- robustness (\S+) reruns: begin -->(.*?)<!-- robustness \1 reruns: end -->", re.S)

INTRO = """# 판정의 견고성: 다른 시드, 다른 CPU 커널 (요약)

노트북이 출력하는 판정 줄(`shown: …` 또는 `not shown with these settings: …`)은 한 번의 실행, 한 시드 묶음,
한 가지 CPU 연산에서 나온다. 그래서 각 노트북을 세 번 더 실행한다: 매개변수 셀의 모든 시드에 1을 더해서(시드 +1),
2를 더해서(시드 +2), 그리고 PyTorch의 기본(일반) CPU 커널로(`ATEN_CPU_CAPABILITY=default`, 기본 CPU 커널).
판정이 **유지**되었다는 것은 다시 실행했을 때 같은 주장이 같은 상태(`shown`은 `shown`, `not shown`은 `not shown`)로
나왔다는 뜻이다. 숫자는 달라도 된다. 주장(판정 줄에서 ` — ` 앞부분)은 노트북이 영어로 출력하므로 영어로 두었다.

이 파일은 영어 원본 [`docs/robustness.md`](../robustness.md)에서 `python scripts/robustness_ko.py`가 만든다.
손으로 고치지 않는다. 실행 명령, 실행 시간, 다시 실행한 판정 줄 전체는 영어 원본에 있다. 여러 시드 묶음과 CPU에서
유지되지 않은 판정은 노트북이 결과로 가르치지 않는다."""


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def section(stem: str, body: str) -> list[str]:
    """One notebook's Korean summary from its English section."""
    num = stem[:2]
    lines = [f"## {TITLES.get(num, stem)}", "", f"노트북: [영어](../../notebooks/{stem}.ipynb) · "
             f"[한국어](../../notebooks/ko/{stem}.ipynb)", ""]
    m = SUMMARY.search(body)
    if not m:
        return lines + ["_아직 다시 실행하지 않았다._", ""]
    held, total, pct, n, reruns, always, _ = m.groups()
    lines += [f"**판정 {total}건 중 {held}건 유지 ({pct}%)**: 판정 {n}개를 {reruns}번 다시 실행했고, "
              f"{n}개 중 {always}개는 모든 재실행에서 유지되었다.", ""]
    rows = [ln for ln in body.splitlines() if re.match(r"^\| *\d+ *\|", ln)]
    header = next((ln for ln in body.splitlines() if ln.startswith("| # |")), "")
    names = _cells(header)[3:-1]
    lines += ["| # | 주장 (노트북이 출력하는 영어) | 커밋된 판정 | " + " | ".join(RERUNS.get(x, x) for x in names)
              + " | 유지 |", "|---:|---|---|" + "---|" * len(names) + "---|"]
    for row in rows:
        c = _cells(row)
        claim = c[1].split(" — ")[0]
        status = lambda s: s.replace("**", "").strip()
        marks = [("유지" if status(x) == status(c[2]) else f"**{status(x)}**") for x in c[3:3 + len(names)]]
        lines.append(f"| {c[0]} | {claim} | {status(c[2])} | " + " | ".join(marks) + f" | {c[-1].replace(' of ', '/')} |")
    flips = body.split("Where a verdict did not hold, what the rerun printed instead:")
    if len(flips) > 1:
        lines += ["", "유지되지 않은 판정과, 그 재실행이 대신 출력한 줄:", ""]
        for ln in flips[1].split("\nReruns:")[0].strip().splitlines():
            for en, ko in RERUNS.items():
                ln = ln.replace(f"  - {en}:", f"  - {ko}:")
            lines.append(ln)
    return lines + [""]


def render(english: str) -> str:
    lines = [INTRO, ""]
    for stem, body in SECTION.findall(english):
        lines += section(stem, body)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    KOREAN.parent.mkdir(parents=True, exist_ok=True)
    KOREAN.write_text(render(ENGLISH.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {KOREAN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
