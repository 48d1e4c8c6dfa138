"""A varied corpus of key results for the rules-engine benchmarks and its fingerprint.

Built from the project's eval set (evals/krs.jsonl) and, when it is there, the development set of
real KRs (../shared/data/dev_krs.jsonl): every source KR once as written, then systematic
variations of it (other numbers, other periods, list markers and "KR 2:" labels, a priority tag, a
trailing date or owner, synonyms of the leading verb, a team or region, case and punctuation). The
result is deterministic and almost every text is distinct, so no cache can hide the real cost of
reading a KR, and the shapes stay those of real drafts.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dev_krs.jsonl"

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_QUARTER = re.compile(r"\b([QH])([1-4])\b")
_YEAR = re.compile(r"\b(20[12]\d)\b")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_MONTH = re.compile(r"\b(" + "|".join(_MONTHS) + r")\b")
_SYNONYMS = [("Increase", "Grow"), ("Grow", "Increase"), ("Reduce", "Cut"), ("Cut", "Reduce"), ("Improve", "Raise"),
             ("Launch", "Ship"), ("Ship", "Launch"), ("Publish", "Write"), ("Hire", "Recruit"), ("Run", "Hold"),
             ("customers", "clients"), ("users", "members"), ("developers", "contributors"), ("weekly", "monthly")]
_TEAMS = ["Payments", "Growth", "Platform", "Mobile", "Support", "Data", "Design", "Community", "Sales", "Finance",
          "Search", "Onboarding", "Billing", "Infra", "Docs", "Partnerships", "Security", "Marketing"]
_REGIONS = ["EMEA", "APAC", "LATAM", "North America", "the Nordics", "Germany", "Japan", "Brazil", "India", "the UK"]
_DEADLINES = ["by end of Q{q}", "by Q{q} {y}", "by {m} {y}", "before the end of H{h}", "by {m} 30", "this quarter",
              "by EOY", "within 90 days"]
_PREFIXES = ["- ", "* ", "KR{k}: ", "{k}. ", "KR {k} - ", "[ ] ", "• "]
_OWNERS = ["(Max)", "(Ana & Li)", "— owner: Sam", "(Priya)"]


def source_rows() -> list[dict[str, str]]:
    """The source KRs: the eval set, then the development set when it is there."""
    rows = []
    for path in (ROOT / "evals" / "krs.jsonl", DEV):
        if path.exists():
            for line in path.read_text("utf-8").splitlines():
                if line.strip():
                    rec = json.loads(line)
                    rows.append({"kr": rec["kr"], "objective": rec.get("objective") or ""})
    return rows


def _renumber(text: str, rnd: random.Random) -> str:
    def one(m: re.Match[str]) -> str:
        whole, frac = m.group(1), m.group(2) or ""
        n = int(whole.replace(",", ""))
        if 1990 <= n <= 2035 and not frac:
            return whole  # a year: the period variation changes those
        factor = rnd.choice((0.5, 0.75, 1.2, 1.5, 2, 3))
        new = max(1, round(n * factor)) if n > 1 else n + rnd.randint(1, 4)
        if n <= 100 < new and "%" in text[m.end():m.end() + 2]:
            new = rnd.randint(max(1, n // 2), 99)
        out = f"{new:,}" if "," in whole else str(new)
        return out + (frac if frac else "")
    return _NUMBER.sub(one, text)


def _vary(text: str, variant: int, rnd: random.Random) -> str:
    ops = rnd.sample(range(9), k=1 + variant % 3)
    for op in ops:
        if op == 0:
            text = _renumber(text, rnd)
        elif op == 1:
            text = _QUARTER.sub(lambda m: f"{m.group(1)}{rnd.randint(1, 4 if m.group(1) == 'Q' else 2)}", text)
            text = _YEAR.sub(lambda m: str(rnd.randint(2024, 2028)), text)
            text = _MONTH.sub(lambda m: rnd.choice(_MONTHS), text)
        elif op == 2:
            text = rnd.choice(_PREFIXES).format(k=rnd.randint(1, 5)) + text
        elif op == 3:
            tail = rnd.choice(_DEADLINES).format(q=rnd.randint(1, 4), h=rnd.randint(1, 2), m=rnd.choice(_MONTHS),
                                                y=rnd.randint(2025, 2028))
            text = f"{text.rstrip('. ')} {tail}"
        elif op == 4:
            a, b = rnd.choice(_SYNONYMS)
            text = re.sub(rf"\b{a}\b", b, text, count=1) if re.search(rf"\b{a}\b", text) else _renumber(text, rnd)
        elif op == 5:
            text = f"{text.rstrip('. ')} for the {rnd.choice(_TEAMS)} team"
        elif op == 6:
            text = f"{text.rstrip('. ')} in {rnd.choice(_REGIONS)}"
        elif op == 7:
            text = rnd.choice((lambda t: t[:1].lower() + t[1:], lambda t: t.rstrip() + ".",
                               lambda t: "[P" + str(rnd.randint(0, 2)) + "] " + t, lambda t: t.replace(" and ", " & ", 1)))(text)
        else:
            text = f"{text.rstrip()} {rnd.choice(_OWNERS)}"
    return text


def varied_rows(n: int, seed: int = 7) -> list[dict[str, str]]:
    """`n` rows {id, objective, kr}: each source KR as written, then variations, all but a few distinct.

    Variant v of an objective is titled with a team and a region (its KRs stay together), so a row's
    objective groups 2-5 KRs as in a real set."""
    base = source_rows()
    rnd = random.Random(seed)
    seen: set[str] = set()
    rows = []
    for i in range(n):
        src = base[i % len(base)]
        variant = i // len(base)
        kr = src["kr"] if variant == 0 else _vary(src["kr"], variant, rnd)
        tries = 0
        while kr in seen and tries < 5:
            kr = _vary(src["kr"], variant + tries + 1, rnd)
            tries += 1
        seen.add(kr)
        objective = src["objective"]
        if variant and objective:
            objective = f"{objective} ({_TEAMS[variant % len(_TEAMS)]}, {_REGIONS[variant % len(_REGIONS)]})"
        rows.append({"id": f"v{i + 1}", "objective": objective, "kr": kr})
    return rows


def distinct_share(rows: list[dict[str, str]]) -> float:
    return len({r["kr"] for r in rows}) / len(rows) if rows else 0.0


if __name__ == "__main__":
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    out = varied_rows(count)
    for r in out:
        print(json.dumps(r, ensure_ascii=False))
    print(f"{len(out):,} rows, {distinct_share(out):.1%} distinct", file=sys.stderr)
