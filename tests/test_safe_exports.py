"""Exports are safe to open: CSV cells a spreadsheet would evaluate are neutralised (OWASP CSV
injection: a leading `'`), and Markdown exports render user text as text, never as a link, an
image or HTML.

The payloads go in wherever a user can type: KR text, objective, owner, id, workshop title, KRs,
participant name and rewrite. One test opens the CSVs in a real spreadsheet (LibreOffice,
headless) next to un-neutralised control cells, so it shows both that the spreadsheet evaluates
formulas in this setup and that ours stay text.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from krcoach import workshop as ws
from krcoach.coach import review
from krcoach.engine import make_engine
from krcoach.formats import render
from krcoach.models import KeyResult, Objective, OKRSet
from krcoach.safe import csv_cell, md_text
from krcoach.store import Store

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+2", "\r=3+4"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LINKS = ["![pixel](http://evil.example/p.png)", "[click](javascript:alert(1))",
         "<http://evil.example>", "<img src=x onerror=alert(1)>", "javascript:alert(1)",
         '<a href="http://evil.example">x</a>', "[ref]\n\n[ref]: http://evil.example",
         "see www.evil.example or http://evil.example/x"]


def test_csv_cell() -> None:
    for f in FORMULAS[:5]:
        assert csv_cell(f) == "'" + f
    assert csv_cell("\r=3+4") == "'\n=3+4"
    assert _cells(render_row(["x\r=HYPERLINK(1)", "y"])) == [["x\n=HYPERLINK(1)", "y"]]
    assert csv_cell("Lift NPS from 30 to 40") == "Lift NPS from 30 to 40"
    assert csv_cell(None) == "" and csv_cell(3) == "3" and csv_cell(True) == "True"
    assert csv_cell("a=b") == "a=b"  # only the first character matters


def _review_csv() -> str:
    krs = [KeyResult(id=str(i), kr=f, owner=FORMULAS[-i]) for i, f in enumerate(FORMULAS, 1)]
    okrs = OKRSet(objectives=[Objective(title='=HYPERLINK("http://x","objective")', krs=krs)])
    return render(review(okrs, make_engine("rules")), "csv")


def _workshop_csv(store: Store, engine) -> str:  # type: ignore[no-untyped-def]
    made = ws.create_workshop(store, "@SUM(A1) workshop", ['=HYPERLINK("http://x","kr")', "+1+1 launches"])
    code, key = made["code"], made["facilitator_token"]
    for n, (name, text) in enumerate(zip(["@SUM(A1)", "-2+3", "=1+1"], FORMULAS), 1):
        p = ws.join(store, code, name)
        ws.submit(store, code, p["participant_token"], 1 + n % 2, text, engine)
    ws.set_names_hidden(store, code, key, False)
    return ws.export(store, code, key, "csv")


def render_row(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([csv_cell(c) for c in row])
    return buf.getvalue()


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _assert_neutralised(text: str, must_contain: list[str]) -> None:
    rows = _cells(text)
    cells = [c for row in rows for c in row]
    bad = [c for c in cells if c.startswith(FORMULA_START)]
    assert not bad, f"cells a spreadsheet would evaluate: {bad}"
    for payload in must_contain:
        assert any(c == "'" + payload or c.startswith("'" + payload) for c in cells), payload


def test_review_csv_is_neutralised() -> None:
    text = _review_csv()
    _assert_neutralised(text, ['=HYPERLINK("http://x","objective")', *FORMULAS[:4]])
    rows = _cells(text)
    header = rows[0]
    kr = [r[header.index("kr")] for r in rows[1:]]
    assert kr[0] == """'=HYPERLINK("http://x","y")""" and kr[2] == "'-2+3"  # the rest kept as is


def test_workshop_csv_is_neutralised(store: Store, engine) -> None:  # type: ignore[no-untyped-def]
    text = _workshop_csv(store, engine)
    _assert_neutralised(text, ['=HYPERLINK("http://x","kr")', "+1+1 launches", "@SUM(A1)",
                               "-2+3", "=1+1", *FORMULAS[:3]])
    rows = _cells(text)
    header = rows[0]
    assert {r[header.index("name")] for r in rows[1:]} == {"'@SUM(A1)", "'-2+3", "'=1+1"}


def test_a_spreadsheet_shows_the_formulas_as_text(tmp_path: Path, store: Store, engine) -> None:  # type: ignore[no-untyped-def]
    """LibreOffice Calc opens the CSVs with formula evaluation on; control cells written raw are
    computed (so the check is not vacuous), ours come back as the text that went in."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    controls = ["=1+1", '=HYPERLINK("http://x","y")']
    src = tmp_path / "exports.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["control", *controls])
        for row in _cells(_review_csv())[1:] + _cells(_workshop_csv(store, engine))[1:]:
            out.writerow(["ours", *row])
    # import: comma, quote ", UTF-8, from line 1, ..., token 13 = evaluate formulas;
    # export: comma, quote ", UTF-8, ..., token 9 = save cell contents as shown (computed values)
    cmd = [soffice, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
           "--infilter=CSV:44,34,76,1,,0,false,true,false,false,false,-1,true",
           "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true",
           "--outdir", str(tmp_path / "out"), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    converted = tmp_path / "out" / "exports.csv"
    assert converted.exists(), proc.stdout + proc.stderr
    shown = _cells(converted.read_text("utf-8"))
    print("soffice:", proc.stdout.strip())
    print("control row as shown:", shown[0])
    assert shown[0][1:3] == ["2", "y"], "formula evaluation was not on: the check would prove nothing"
    ours = [row[1:] for row in shown[1:]]
    sent = [row[1:] for row in _cells(src.read_text("utf-8"))[1:]]
    assert len(ours) == len(sent)
    neutralised = []
    for got, want in zip(ours, sent, strict=True):
        assert not any(got[len(want):]), got  # Calc pads short rows with empty cells
        for g, w in zip(got, want):
            if w.startswith("'"):  # a neutralised cell: shown as the text we wrote, not computed
                assert g in (w, w[1:]), f"the spreadsheet changed {w!r} into {g!r}"
                neutralised.append(g)
    print(f"{len(neutralised)} neutralised cells as shown, e.g.:", neutralised[:5])
    assert len(neutralised) >= 12
    assert any("HYPERLINK(" in g for g in neutralised) and any("SUM(A1)" in g for g in neutralised)


def _markdown_exports(store: Store, engine) -> list[str]:  # type: ignore[no-untyped-def]
    krs = [KeyResult(id=str(i), kr=text, owner=LINKS[i % len(LINKS)]) for i, text in enumerate(LINKS, 1)]
    krs.append(KeyResult(id="[x](javascript:alert(1))", kr="Lift NPS from 30 to 40 by Q4"))
    okrs = OKRSet(objectives=[Objective(title="![t](http://evil.example/t.png)", krs=krs)])
    page = render(review(okrs, make_engine("rules")), "md")
    made = ws.create_workshop(store, "[title](javascript:alert(1))", ["<http://evil.example>", "Launch it"])
    code, key = made["code"], made["facilitator_token"]
    for i, text in enumerate(LINKS):
        p = ws.join(store, code, "![me](http://evil.example/me.png)")
        ws.submit(store, code, p["participant_token"], 1 + i % 2, text.replace("\n", " "), engine)
    ws.set_names_hidden(store, code, key, False)
    return [page, ws.export(store, code, key, "md")]


def _renderers() -> list:  # type: ignore[type-arg]
    from markdown_it import MarkdownIt

    out = [("markdown-it commonmark", MarkdownIt("commonmark").render),
           ("markdown-it js-default", MarkdownIt("js-default").render)]
    try:
        import linkify_it  # noqa: F401

        out.append(("markdown-it gfm-like", MarkdownIt("gfm-like").render))
    except ImportError:
        pass
    try:
        import markdown

        out.append(("Python-Markdown", lambda t: markdown.markdown(t, extensions=["tables"])))
    except ImportError:
        pass
    return out


def test_markdown_exports_render_no_links_or_images(store: Store, engine) -> None:  # type: ignore[no-untyped-def]
    docs = _markdown_exports(store, engine)
    for name, render_html in _renderers():
        for doc in docs:
            html = render_html(doc)
            assert "<a " not in html and "<a>" not in html, f"{name} made a link"
            assert "<img" not in html, f"{name} made an image"
            assert "<script" not in html and "<http" not in html
            assert "javascript:alert(1)" in html  # the text is there, as text
    for text in LINKS:  # each piece of text comes back as itself
        from markdown_it import MarkdownIt

        html = MarkdownIt("commonmark").render(md_text(text.replace("\n", " ")))
        assert "<a " not in html and "<img" not in html
