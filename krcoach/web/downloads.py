"""The files the drafting page hands out: the review as Markdown, CSV and JSON, and the improved
draft as a Markdown outline.

Written once per distinct review (folders named by a hash of the content), owner-only (0700
folders, 0600 files: Gradio's cached copies keep the mode), and pruned to the newest
KEEP_DOWNLOAD_SETS, as Gradio serves its own copies once the response has gone out.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from krcoach import formats
from krcoach.models import OKRReview, OKRSet
from krcoach.safe import md_text

#: Download folders (one per distinct review) kept on disk before the oldest are removed.
KEEP_DOWNLOAD_SETS = 64
#: The files of one review, in the order of the page's download buttons.
DOWNLOAD_NAMES = ("okr-review.md", "okr-review.csv", "okr-review.json", "improved-draft.md")


def make_folder() -> Path:
    """A fresh owner-only folder (mkdtemp: 0700) for one app's downloads, removed at exit."""
    out_dir = Path(tempfile.mkdtemp(prefix="krcoach-downloads-"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    return out_dir


def improved_draft_md(okrs: OKRSet) -> str:
    """The draft as the downloadable Markdown outline (objective headings, KR bullets, owners),
    every user string written with `safe.md_text` like the other Markdown exports: it renders as
    the text typed, never as HTML, an image or a link, and `formats.parse_outline` reads the same
    objectives and key results back (it undoes the backslash escapes). The draft box itself gets
    the plain `formats.improved_draft`, which is text for editing, not Markdown to render."""
    def line(value: str | None) -> str | None:
        return " ".join(md_text(value).split()) if value else value

    escaped = okrs.model_copy(update={"objectives": [
        obj.model_copy(update={"title": line(obj.title), "krs": [
            kr.model_copy(update={"kr": line(kr.kr), "owner": line(kr.owner)}) for kr in obj.krs]})
        for obj in okrs.objectives]})
    return formats.improved_draft(escaped, {})


def _write_private(path: Path, body: str) -> None:
    """Write a file only its owner can read (0600): Gradio's cached copy keeps this mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
    os.chmod(path, 0o600)  # the mode given to open() is narrowed by the umask, never widened


def write_downloads(review: OKRReview, draft_text: str, out_dir: Path) -> dict[str, Path]:
    """Render the review (md/csv/json) and the current draft to files named by content hash, in
    owner-only folders (0700) and files (0600)."""
    okrs = formats.parse_outline(draft_text, source="draft")
    payloads = {
        "okr-review.md": formats.render(review, "md"),
        "okr-review.csv": formats.render(review, "csv"),
        "okr-review.json": formats.render(review, "json"),
        "improved-draft.md": improved_draft_md(okrs),
    }
    digest = hashlib.sha256("\x00".join(payloads.values()).encode()).hexdigest()[:20]
    folder = out_dir / digest
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.utime(folder)  # a reused folder is the newest again, so pruning keeps it
    paths = {}
    for name, body in payloads.items():
        path = folder / name
        if not path.exists():
            _write_private(path, body)
        paths[name] = path
    _prune(out_dir, keep=KEEP_DOWNLOAD_SETS)
    return paths


def _prune(out_dir: Path, keep: int) -> None:
    """Drop the oldest download folders. Gradio copies returned files into its own cache (cleaned
    by `delete_cache`), so ours are only needed until the response has gone out."""
    folders = [p for p in out_dir.iterdir() if p.is_dir()]
    if len(folders) <= keep:
        return
    folders.sort(key=lambda p: p.stat().st_mtime)
    for old in folders[: len(folders) - keep]:
        shutil.rmtree(old, ignore_errors=True)

