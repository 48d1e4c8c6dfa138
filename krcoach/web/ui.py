"""What every page says the same way: escaping, verdict badges, issue labels, the engine's name
and the navbar's name for the drafting page.

The drafting page and the workshop pages both draw into `gr.HTML`, both show verdicts and issue
codes, and both draw the navbar Gradio shows once the workshop adds its pages. Kept here, below
both, so neither page imports the other and a change of wording or escaping happens once.
Pure functions on strings: nothing here imports Gradio.
"""

from __future__ import annotations

import html

from krcoach import issue_codes

#: The drafting page's name in the navbar every page shows.
MAIN_PAGE_NAME = "Draft OKRs"

#: Short names for the stable codes; the long plain-words meaning is `models.ISSUE_CODES`.
ISSUE_LABELS: dict[str, str] = issue_codes.labels()


def esc(value: object) -> str:
    """Escape for HTML text and attributes, and defuse template syntax (`${…}`, `{{…}}`).

    gr.HTML fills a JS/Handlebars template; entity-encoding `$`, braces and backticks keeps a KR
    such as "${alert(1)}" inert while it still reads the same on screen.
    """
    text = html.escape(str(value), quote=True)
    return (text.replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")
            .replace("`", "&#96;"))


def code_words(code: str) -> str:
    """An issue code as plain words ("no_baseline" -> "No baseline"): what the workshop shows,
    and the label of a code the label table does not know."""
    return code.replace("_", " ").capitalize()


def issue_label(code: str) -> str:
    """The short label the drafting page puts on an issue ("activity" -> "Activity, not impact")."""
    return ISSUE_LABELS.get(code, code_words(code))


def engine_label(name: str, model: str | None) -> str:
    """The engine as people read it: "rules", or "llm · gpt-4o-mini"."""
    return f"{name} · {model}" if model else name


def badge(kind: str | None, family: str = "kc") -> str:
    """The verdict badge: "Output" or "Outcome", or "Not reviewed" when there is no verdict (a
    workshop rewrite the coach could not review). `family` is the page's class prefix: `kc`
    (drafting page, app.css) or `ws` (workshop pages, workshop.css)."""
    if kind in ("outcome", "output"):
        return f'<span class="{family}-badge {family}-{kind}">{kind.capitalize()}</span>'
    return f'<span class="{family}-badge {family}-none">Not reviewed</span>'
