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

from krcoach.workshop import domain as ws
from krcoach.coach import review
from krcoach.engine import make_engine
from krcoach.formats import render
from krcoach.models import KeyResult, Objective, OKRSet
from krcoach.safe import csv_cell, md_text
from krcoach.workshop.store import Store

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


# ------------------------------------------------------------------ linkify: bare domains, addresses

#: Text a linkify renderer (GFM, markdown-it with linkify) would turn into links.
BARE = ["example.com", "www.evil.io", "ops@corp.com", "see evil.io/path?x=1 now", "пример.рф",
        "café.com", "//evil.io", "first.last@mail.example.org", "WWW.1x.COM", "https://evil.io/a"]


def _linkify() -> list:  # type: ignore[type-arg]
    """markdown-it with raw HTML allowed and linkify on (needs linkify-it-py), as chat and wiki
    renderers are set up."""
    pytest.importorskip("linkify_it", reason="pip install linkify-it-py (markdown-it's linkify)")
    from markdown_it import MarkdownIt

    return [("markdown-it commonmark+html+linkify",
             MarkdownIt("commonmark", {"html": True, "linkify": True}).enable("linkify").render),
            ("markdown-it gfm-like+html", MarkdownIt("gfm-like", {"html": True}).render)]


def _shown(html: str) -> str:
    """The text a reader sees in rendered HTML."""
    import html as html_lib
    import re

    return html_lib.unescape(re.sub(r"<[^>]+>", "", html)).strip()


@pytest.mark.parametrize("text", BARE)
def test_md_text_leaves_domains_and_addresses_as_text_under_linkify(text: str) -> None:
    from markdown_it import MarkdownIt

    for name, render_html in _linkify():
        assert "<a" in render_html(text) or text in ("//evil.io",), f"{name}: control not linked"
        html = render_html(md_text(text))
        assert "<a" not in html, f"{name} linked {md_text(text)!r}: {html}"
        assert _shown(html) == text, name  # the same visible text
    assert _shown(MarkdownIt("commonmark").render(md_text(text))) == text
    assert "3.5" in md_text("from 3.5 to 4.0") and "v1.2" in md_text("v1.2")  # numbers unescaped


def test_markdown_exports_leave_domains_and_addresses_as_text(store: Store, engine) -> None:  # type: ignore[no-untyped-def]
    krs = [KeyResult(id=str(i), kr=f"Reach {text} users", owner="ops@corp.com")
           for i, text in enumerate(BARE, 1)]
    okrs = OKRSet(objectives=[Objective(title="Grow example.com and www.evil.io", krs=krs)])
    page = render(review(okrs, make_engine("rules")), "md")
    made = ws.create_workshop(store, "Workshop at evil.io", ["Email ops@corp.com daily", "Launch it"])
    code, key = made["code"], made["facilitator_token"]
    for i, text in enumerate(BARE):
        p = ws.join(store, code, "me@evil.io")
        ws.submit(store, code, p["participant_token"], 1 + i % 2, f"Raise {text} signups", engine)
    ws.set_names_hidden(store, code, key, False)
    from krcoach.web import downloads

    draft = downloads.improved_draft_md(okrs)
    for doc in (page, ws.export(store, code, key, "md"), draft):
        for name, render_html in _linkify():
            html = render_html(doc)
            assert "<a " not in html, f"{name} made a link: {html[:2000]}"
            assert "example.com" in _shown(html) and "ops@corp.com" in _shown(html)


# ----------------------------------------------------------- the page's "Improved draft .md"

HOSTILE = ["<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "<script>alert(1)</script>",
           '<a href="javascript:alert(1)" onclick="alert(1)">x</a>', "<svg onload=alert(1)>",
           "![p](http://evil.example/p.png)", "<http://evil.example>", "javascript:alert(1)",
           "<div onmouseover=alert(1)>x</div>", "<iframe src=javascript:alert(1)>",
           "<b onclick=alert(1)>bold</b>", "example.com, www.evil.io, ops@corp.com"]


def _hostile_draft() -> str:
    lines = ["## <img src=x onerror=alert(1)> Grow <b onmouseover=alert(1)>x</b>"]
    lines += [f"- Raise {h} from {i} to {i + 1} by Q4" for i, h in enumerate(HOSTILE)]
    lines += ["", "Objective: <script>alert(2)</script> at evil.io"]
    lines += [f"- {h} launches (owner: <img src=y onerror=alert(3)>)" for h in HOSTILE]
    return "\n".join(lines) + "\n"


def test_the_improved_draft_download_is_inert_and_reads_back(tmp_path: Path) -> None:
    import re

    from markdown_it import MarkdownIt

    from krcoach import formats
    from krcoach.web import downloads

    draft = _hostile_draft()
    okrs = formats.parse_outline(draft)
    reviewed = review(okrs, make_engine("rules"))
    paths = downloads.write_downloads(reviewed, draft, tmp_path)
    doc = paths["improved-draft.md"].read_text(encoding="utf-8")
    renderers = [("markdown-it commonmark+html", MarkdownIt("commonmark", {"html": True}).render)]
    try:
        renderers += _linkify()
    except pytest.skip.Exception:
        pass
    for name, render_html in renderers + _renderers():
        html = render_html(doc)
        tags = re.findall(r"<[^>]*>", html)
        assert not [t for t in tags if re.match(r"</?(img|script|svg|iframe|a|div|b)\b", t)], name
        assert not [t for t in tags if re.search(r"\son\w+\s*=", t)], f"{name}: on* handler"
        assert not [t for t in tags if re.search(r"(?i)javascript:", t)], f"{name}: javascript: link"
        assert "javascript:alert(1)" in html and "onerror=alert(1)" in html  # shown as text
    # still an outline: objective headings and KR bullets, read back by krcoach's own reader
    assert doc.startswith("## ") and doc.count("\n## ") == 1
    assert sum(line.startswith("- ") for line in doc.splitlines()) == len(okrs.key_results())
    back = formats.parse_outline(doc)
    assert len(back.objectives) == len(okrs.objectives) == 2
    assert len(back.key_results()) == len(okrs.key_results()) == 2 * len(HOSTILE)
    # the page's own reader undoes the backslash escapes: plain KRs come back as typed
    plain = "## Grow example.com\n- Raise weekly active teams on www.app.io from 40 to 60 by Q3 " \
            "(owner: ops@corp.com)\n- Ship *v2* of the [beta] (owner: Lea)\n"
    plain_okrs = formats.parse_outline(plain)
    again = formats.parse_outline(downloads.improved_draft_md(plain_okrs))
    assert [(k.kr, k.owner) for k in again.key_results()] == \
        [(k.kr, k.owner) for k in plain_okrs.key_results()]
    assert again.objectives[0].title == plain_okrs.objectives[0].title


def test_download_files_are_owner_only(tmp_path: Path) -> None:
    from krcoach import formats
    from krcoach.web import downloads

    text = "- Raise weekly active teams from 40 to 60 by Q3\n"
    paths = downloads.write_downloads(review(formats.parse_outline(text), make_engine("rules")), text,
                                tmp_path)
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.parent.stat().st_mode & 0o777 == 0o700, path.parent


# ------------------------------------------------- Gradio's copies of downloads and uploads


def _page_click(url: str, elem_id: str, *data: object) -> list:  # type: ignore[type-arg]
    """Press a button of the page over Gradio's queue protocol, as the browser does (the page's
    events are private: `gradio_client` cannot call them), and return the outputs."""
    import json
    import secrets

    import httpx

    with httpx.Client(base_url=url, timeout=60) as http:
        config = http.get("config").json()
        target = next(c["id"] for c in config["components"]
                      if c.get("props", {}).get("elem_id") == elem_id)
        dep = next(d for d in config["dependencies"] if [target, "click"] in d["targets"])
        session = secrets.token_hex(8)
        http.post("gradio_api/queue/join", json={
            "data": list(data), "event_data": None, "fn_index": dep["id"], "trigger_id": target,
            "session_hash": session}).raise_for_status()
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        assert msg.get("success"), msg
                        return msg["output"]["data"]
    raise AssertionError("no result")


@pytest.mark.slow
def test_gradio_copies_of_downloads_and_uploads_are_owner_only(tmp_path: Path) -> None:
    """The app keeps Gradio's copies in its own owner-only folder (KRCOACH_DATA_DIR/gradio-tmp,
    not a world-readable /tmp/gradio): every folder 0700, every file 0600, downloads (fetched as
    the browser fetches them) and uploads alike."""
    import stat

    import httpx

    from browser import launch_app

    data_dir = tmp_path / "data"
    with launch_app(tmp_path, env={"GRADIO_TEMP_DIR": "", "KRCOACH_DATA_DIR": str(data_dir)}) as url:
        out = _page_click(url, "kc-review", "## Grow\n- Raise weekly active teams from 40 to 60 "
                          "by Q3\n- Ship the onboarding checklist\n")
        files = [o["value"] for o in out if isinstance(o, dict)
                 and isinstance(o.get("value"), dict) and o["value"].get("path")]
        names = sorted(Path(f["path"]).name for f in files)
        assert names == ["improved-draft.md", "okr-review.csv", "okr-review.json", "okr-review.md"]
        temp = data_dir / "gradio-tmp"
        with httpx.Client(timeout=30) as http:
            for f in files:
                assert Path(f["path"]).is_relative_to(temp), f["path"]
                got = http.get(f["url"])
                assert got.status_code == 200 and got.content == Path(f["path"]).read_bytes()
            up = http.post(f"{url}gradio_api/upload",
                           files={"files": ("okrs.md", b"- Ship it\n", "text/markdown")})
            up.raise_for_status()
        uploaded = Path(up.json()[0])
        assert uploaded.is_relative_to(temp) and uploaded.read_bytes() == b"- Ship it\n"
        entries = [temp, *temp.rglob("*")]
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in entries}
        print(modes)
        assert len([p for p in entries if p.is_file()]) >= 5
        for p in entries:
            want = 0o700 if p.is_dir() else 0o600
            assert stat.S_IMODE(p.stat().st_mode) == want, (p, oct(p.stat().st_mode))
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
