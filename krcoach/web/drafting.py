"""The drafting page (`/`): a person pastes or uploads a draft, sees every key result classified
as output or outcome with the reasons and issues, and pulls suggested rewrites into the draft.

`build_page` adds the page's components and events to the app's open `gr.Blocks` (the app
composes it with the navbar, the workshop and the JSON API). Handlers are thin: they read the
draft with `drafts`, review it in the server's one `limits.ReviewPool`, and render with the pure
functions of `review_html`. Each handler answers with a dict keyed by component (Gradio leaves
out the others), so adding an output cannot shift the rest. The page's named endpoint `review`
(for `gradio_client`) takes the outline and returns the stable per-KR records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from krcoach import coach, formats
from krcoach.engine import Engine
from krcoach.models import ObjectiveReview, OKRReview
from krcoach.web import door, downloads, limits, validate
from krcoach.web.drafts import MAX_KRS, MAX_TEXT_CHARS, DraftError, assemble, parse_draft
from krcoach.web.examples import EXAMPLES
from krcoach.web.review_html import (
    render_header,
    render_intro,
    render_message,
    render_pending,
    render_review,
    render_summary,
)

#: Rules reviews take a few milliseconds of CPU and never wait on I/O: serve many at once.
RULES_CONCURRENCY = 16
#: LLM reviews wait on the network: bound them by their own pool, shared by every llm event.
LLM_CONCURRENCY = 4
LLM_CONCURRENCY_ID = "krcoach-llm"
RULES_CONCURRENCY_ID = "krcoach-rules"
#: Milliseconds of quiet typing before the live (rules) review runs.
LIVE_DEBOUNCE_MS = 350
UPLOAD_TYPES = sorted(formats.EXTENSIONS)


# ------------------------------------------------------------------------------- the page's work


def review_records(engine: Engine, outline: str, pool: limits.ReviewPool | None = None,
                   client: str = "") -> list[dict[str, Any]]:
    """The `review` API: outline text in, the stable per-KR records out (through `pool`, as
    `client`, when given: a full share is a one-line "Busy: ... retry in N s." error)."""
    try:
        okrs = parse_draft(outline)
    except DraftError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    if pool is None:
        return coach.review(okrs, engine).records()
    try:
        with pool.slot(client, limits.draft_weight(len(okrs.key_results()))):
            return pool.review(okrs, engine, "records")
    except limits.Busy as busy:
        raise gr.Error(busy.message, print_exception=False) from None


def upload_to_outline(path: str | None) -> str:
    """Read an uploaded file (any CLI input format) and return it as an editable outline. Only a
    file inside Gradio's upload folder is read: never a path a client names (`door.is_uploaded`)."""
    if not path:
        raise DraftError("No file received.")
    if not door.is_uploaded(path):
        raise DraftError("That file was not uploaded here: use the Upload button.")
    p = Path(path)
    try:
        okrs = formats.read_bytes(p.read_bytes(), p.name)
    except formats.InputError as exc:
        raise DraftError(str(exc)) from None
    n = len(okrs.key_results())
    if n > MAX_KRS:
        raise DraftError(f"{p.name} has {n} key results; at most {MAX_KRS} can be reviewed at a "
                         "time here. Use `krcoach review` for batches.")
    # The outline is written by us from the file's records, so stray control characters in the
    # file are dropped here rather than refused later in a draft the person never typed.
    return validate.CONTROL.sub("", formats.improved_draft(okrs, {}))


def apply_rewrite(text: str, reviewed: dict[str, Any] | None, kr_id: str, index: int) -> str:
    """The draft with KR `kr_id` replaced by rewrite number `index` of the last review."""
    if not reviewed or kr_id not in reviewed.get("rewrites", {}):
        raise DraftError("That suggestion is no longer in the review; review the draft again.")
    options = reviewed["rewrites"][kr_id]
    if not 0 <= index < len(options):
        raise DraftError("That suggestion is no longer in the review; review the draft again.")
    okrs = parse_draft(text)
    current = {kr.id: kr.kr for kr in okrs.key_results()}
    if current.get(kr_id) != reviewed["krs"].get(kr_id):
        raise DraftError("The draft changed since this review: review it again, then pick a rewrite.")
    return formats.improved_draft(okrs, {kr_id: options[index]})


def review_state(review: OKRReview) -> dict[str, Any]:
    """What the "Use this rewrite" button needs from the review that is on screen."""
    return {
        "krs": {kr.id: kr.kr for kr in review.kr_reviews()},
        "rewrites": {kr.id: [rw.text for rw in kr.rewrites] for kr in review.kr_reviews()},
    }


# ------------------------------------------------------------------------------ browser scripts

_RESULTS_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button.kc-apply');
  if (!button || !element.contains(button)) return;
  button.disabled = true;
  button.textContent = 'Applying…';
  trigger('click', {kr: button.dataset.kr, idx: Number(button.dataset.idx)});
});
"""

# A debounce in the browser: any edit of the draft (typing, paste, cut, drop) schedules one click on
# the hidden live-review button. It listens to the DOM `input` event itself because Gradio's own
# Textbox `input` event fires on key presses only, so a paste with the mouse would never review.
_LIVE_JS = f"""
if (!window.__kcLive) {{
  window.__kcLive = true;
  document.addEventListener('input', (event) => {{
    if (!event.target.closest || !event.target.closest('#kc-draft')) return;
    clearTimeout(window.__kcLiveTimer);
    window.__kcLiveTimer = setTimeout(() => {{
      const button = document.getElementById('kc-live');
      if (button) button.click();
    }}, {LIVE_DEBOUNCE_MS});
  }}, true);
}}
"""

# The size guard, in the browser, on the draft box: a paste, a drop or any other edit that would
# make the draft longer than MAX_TEXT_CHARS is refused before the text reaches the box (whose
# layout of megabytes froze the page for minutes), the server or the results; the message shows
# under the box at once and the draft stays as it was. Every way text gets in is covered:
# - `paste` and `drop` events (keyboard, menu, mouse);
# - `beforeinput` insertions without a paste event: dictation, IME commits, spelling fixes,
#   automation and extensions typing (insertText, insertReplacementText, insertFromDrop, ...);
# - `document.execCommand('insertText'|'insertHTML')`, which scripts use and which fires no
#   `beforeinput` (Chromium inserts 500,000 characters that way in well over ten minutes, so it
#   is refused before it starts);
# - a value set by a script followed by an `input` event: the box gets its last value back.
# It runs before the live review's listener (both listen in the capture phase; this one is
# registered first), so nothing is sent. Lengths are counted in code points, as the server counts.
_GUARD_JS = f"""
if (!window.__kcGuard) {{
  window.__kcGuard = true;
  const LIMIT = {MAX_TEXT_CHARS};
  const fmt = (n) => n.toLocaleString('en-US');
  const size = (s) => s.length - (s.length > LIMIT && s.length <= 2 * LIMIT
    ? (s.match(/[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]/g) || []).length : 0);
  const draftBox = (t) => (t && t.tagName === 'TEXTAREA' && t.closest('#kc-draft')) ? t : null;
  const refuse = (event, n, what) => {{
    if (event) {{
      event.preventDefault();
      event.stopImmediatePropagation();
    }}
    props.value = '<div class="kc-root"><div class="kc-msg kc-msg-error" role="alert">'
      + '<b>Too long to review here</b><p>' + what + ' would make the draft ' + fmt(n)
      + ' characters; at most ' + fmt(LIMIT) + ' can be reviewed at a time here, so the draft '
      + 'was left as it was. Split it, or use <code>krcoach review</code>.</p></div></div>';
  }};
  const clear = () => {{ if (props.value) props.value = ''; }};
  // The draft's size once `added` replaces the selection, when that is over the limit; else 0.
  const over = (box, added) => {{
    const kept = box.value.length - Math.abs((box.selectionEnd || 0) - (box.selectionStart || 0));
    if (kept + added.length <= LIMIT) return 0;
    const n = size(box.value.slice(0, box.selectionStart) + added
      + box.value.slice(box.selectionEnd));
    return n > LIMIT ? n : 0;
  }};
  const incoming = (event, data, what) => {{
    const box = draftBox(event.target);
    if (!box || !data) return;
    const n = over(box, data.getData('text/plain') || '');
    if (n) refuse(event, n, what);
  }};
  const WHAT = {{insertFromPaste: 'This paste', insertFromPasteAsQuotation: 'This paste',
                insertFromDrop: 'This drop'}};
  document.addEventListener('paste', (e) => incoming(e, e.clipboardData, 'This paste'), true);
  document.addEventListener('drop', (e) => incoming(e, e.dataTransfer, 'This drop'), true);
  document.addEventListener('beforeinput', (e) => {{
    const box = draftBox(e.target);
    if (!box) return;
    box.__kcBefore = box.value;
    if (!String(e.inputType || '').startsWith('insert')) return;
    const added = typeof e.data === 'string' ? e.data
      : (e.dataTransfer && e.dataTransfer.getData('text/plain')) || '';
    const n = over(box, added);
    if (n) refuse(e, n, WHAT[e.inputType] || 'This insertion');
  }}, true);
  const exec = Document.prototype.execCommand;
  document.execCommand = function (command, ui, value) {{
    const box = draftBox(document.activeElement);
    if (box && /^insert(text|html)$/i.test(String(command)) && value != null) {{
      const n = over(box, String(value));
      if (n) {{ refuse(null, n, 'This insertion'); return false; }}
    }}
    return exec.apply(this, arguments);
  }};
  document.addEventListener('input', (e) => {{
    const box = draftBox(e.target);
    if (!box) return;
    const n = box.value.length > LIMIT ? size(box.value) : 0;
    if (n <= LIMIT) {{ box.__kcBefore = box.value; clear(); return; }}
    box.value = box.__kcBefore || '';
    refuse(e, n, 'This change');
  }}, true);
}}
"""


# ------------------------------------------------------------------------------------- the page


def build_page(eng: Engine, pool: limits.ReviewPool) -> None:
    """Add the drafting page to the open `gr.Blocks`: its components, its events and the named
    `review` endpoint. Every review runs in `pool` (shared with the workshop and the JSON API)."""
    live = eng.name == "rules"  # the rules engine is fast enough to review as the person types
    limit, group = ((RULES_CONCURRENCY, RULES_CONCURRENCY_ID) if live
                    else (LLM_CONCURRENCY, LLM_CONCURRENCY_ID))
    out_dir = downloads.make_folder()

    gr.HTML(render_header(eng), elem_id="kc-header", js_on_load=None)
    reviewed = gr.State(None)
    with gr.Row(equal_height=False, elem_id="kc-main"):
        with gr.Column(scale=5, min_width=320, elem_id="kc-draft-col"):
            draft = gr.Textbox(
                label="Your draft OKRs", lines=14, max_lines=40, elem_id="kc-draft",
                placeholder=("## Customers get value in their first week\n"
                             "- Ship the onboarding checklist (owner: Lea)\n"
                             "- Cut time-to-first-report from 3 days to 1 day by Sep 30"),
                info=("Objectives as headings or “Objective:” lines, key results as bullets. "
                      "Owners as “(owner: Ana)” or “@ana”." + (" Reviews as you type."
                                                               if live else "")),
            )
            gr.HTML("", elem_id="kc-guard", js_on_load=_GUARD_JS)
            with gr.Row(elem_id="kc-actions"):
                review_btn = gr.Button("Review draft", variant="primary", elem_id="kc-review",
                                       scale=2)
                upload = gr.UploadButton("Upload file", file_types=UPLOAD_TYPES,
                                         type="filepath", elem_id="kc-upload", scale=1,
                                         variant="secondary")
            gr.HTML('<p class="kc-examples-label">Or load an example draft:</p>',
                    js_on_load=None)
            with gr.Row(elem_id="kc-examples"):
                example_btns = [gr.Button(ex.name, size="sm", variant="secondary",
                                          elem_classes=["kc-example"]) for ex in EXAMPLES]
            with gr.Column(elem_id="kc-downloads", visible=False) as download_box:
                gr.HTML('<p class="kc-dl-label">Download the review</p>', js_on_load=None)
                with gr.Row(elem_id="kc-dl-row"):
                    download_btns = {
                        name: gr.DownloadButton(label, size="sm", variant="secondary",
                                                elem_id=f"kc-dl-{name.replace('.', '-')}")
                        for label, name in zip(
                            ("Review .md", "Review .csv", "Review .json", "Improved draft .md"),
                            downloads.DOWNLOAD_NAMES)
                    }
        with gr.Column(scale=7, min_width=320, elem_id="kc-results-col"):
            results = gr.HTML(render_intro(), elem_id="kc-results",
                              js_on_load=_RESULTS_JS + (_LIVE_JS if live else ""))
    live_btn = gr.Button("live review", visible="hidden", elem_id="kc-live")
    outputs = [results, reviewed, download_box, *download_btns.values()]

    def without_review(html: str) -> dict[Any, Any]:
        """A message instead of a review: no review kept, no downloads offered."""
        return {results: html, reviewed: None, download_box: gr.Column(visible=False),
                **{button: gr.DownloadButton(value=None) for button in download_btns.values()}}

    def shown(text: str, review: OKRReview, final: bool = True, pending: int = 0) -> dict[Any, Any]:
        """A review on the page; a final one is also kept for "Use this rewrite" and offered as
        downloads, a partial one (objectives still pending) only replaces the results column."""
        page = (f'<div class="kc-root">{render_summary(review, pending=pending)}'
                f'{render_review(review)}</div>')
        if not final:
            return {results: page}
        paths = downloads.write_downloads(review, text, out_dir)
        return {results: page, reviewed: review_state(review), download_box: gr.Column(visible=True),
                **{button: gr.DownloadButton(value=str(paths[name]))
                   for name, button in download_btns.items()}}

    def busy(refused: limits.Busy) -> dict[Any, Any]:
        """The pool is full for this client: say so, and leave the last review as it is."""
        return {results: render_message(refused.message, title="Busy")}

    def review_now(text: str, client: str) -> dict[Any, Any]:
        """One complete review of the draft, or the page's message for a draft it refuses."""
        if text is None or (isinstance(text, str) and len(text) <= MAX_TEXT_CHARS
                            and not text.strip()):
            return without_review(render_intro())
        try:
            okrs = parse_draft(text)
        except DraftError as exc:
            return without_review(render_message(str(exc)))
        try:
            with pool.slot(client, limits.draft_weight(len(okrs.key_results()))):
                review = pool.review(okrs, eng)
        except limits.Busy as refused:
            return busy(refused)
        return shown(text, review)

    def review_page(text: str, request: gr.Request,
                    progress: gr.Progress = gr.Progress()) -> Iterator[dict[Any, Any]]:
        """UI review: messages on the page (never a traceback), partial results for slow engines."""
        client = limits.gradio_client_key(request)
        try:
            okrs = parse_draft(text)
        except DraftError:
            okrs = None
        if live or okrs is None:
            yield review_now(text, client)
            return
        # Slow engine: show each objective as soon as it is reviewed.
        total = len(okrs.objectives)
        done: list[ObjectiveReview] = []
        try:
            with pool.slot(client, limits.draft_weight(len(okrs.key_results()))):
                progress((0, total), desc="Reviewing objectives")
                yield {results: render_pending(total, eng)}
                for obj in coach.iter_review(okrs, eng):
                    done.append(obj)
                    progress((len(done), total), desc="Reviewing objectives")
                    if len(done) < total:
                        partial = OKRReview(objectives=done, engine=eng.name, model=eng.model)
                        yield shown(text, partial, final=False, pending=total - len(done))
        except limits.Busy as refused:
            yield busy(refused)
            return
        yield shown(text, assemble(okrs, done, eng))

    def apply_click(text: str, kept: dict[str, Any] | None, evt: gr.EventData,
                    request: gr.Request) -> dict[Any, Any]:
        """Put the chosen rewrite into the draft; with the rules engine, review the result."""
        data = evt._data if isinstance(evt._data, dict) else {}
        try:
            index = int(data.get("idx", -1))
            new = apply_rewrite(text, kept, str(data.get("kr", "")), index)
        except (DraftError, TypeError, ValueError, OverflowError) as exc:
            gr.Warning(str(exc) if isinstance(exc, DraftError) else "Unknown rewrite.")
            return gr.skip()  # one skip leaves every output as it is
        if live:
            return {draft: new, **review_now(new, limits.gradio_client_key(request))}
        gr.Info("Rewrite applied. Press “Review draft” to check the new draft.")
        return {draft: new}

    def load_upload(path: str | None, request: gr.Request) -> dict[Any, Any]:
        """Turn an uploaded file into the draft; with the rules engine, review it at once."""
        try:
            outline = upload_to_outline(path)
        except DraftError as exc:
            return without_review(render_message(str(exc), title="Can’t read that file"))
        if live:
            return {draft: outline, **review_now(outline, limits.gradio_client_key(request))}
        n = len(formats.parse_outline(outline).key_results())
        note = render_message(f"Loaded {n} key results from {Path(path or '').name}. Press "
                              "“Review draft” to review them.", tone="note")
        return {draft: outline, **without_review(note)}

    common = dict(concurrency_limit=limit, concurrency_id=group, api_visibility="private")
    review_btn.click(review_page, inputs=draft, outputs=outputs, show_progress="minimal",
                     trigger_mode="always_last", scroll_to_output=True, **common)
    if live:
        live_btn.click(review_page, inputs=draft, outputs=outputs, show_progress="hidden",
                       trigger_mode="always_last", **common)
    for btn, ex in zip(example_btns, EXAMPLES):
        loaded = btn.click(lambda text=ex.text: text, inputs=None, outputs=draft,
                           api_visibility="private", queue=False)
        if live:
            loaded.then(review_page, inputs=draft, outputs=outputs, show_progress="hidden",
                        **common)
    # Upload and apply only call the engine when it is the (fast) rules engine.
    fast = dict(concurrency_limit=RULES_CONCURRENCY, concurrency_id=RULES_CONCURRENCY_ID,
                api_visibility="private")
    upload.upload(load_upload, inputs=upload, outputs=[draft, *outputs], **fast)
    results.click(apply_click, inputs=[draft, reviewed], outputs=[draft, *outputs], **fast)

    def review(outline: str, request: gr.Request) -> list[dict[str, Any]]:
        """Review an OKR outline (Markdown/text) and return one stable record per key result."""
        return review_records(eng, outline, pool, limits.gradio_client_key(request))

    gr.api(review, api_name="review", concurrency_limit=limit, concurrency_id=group)
