"""The app `krcoach serve` runs: it composes the pages and the API, and launches them.

- the drafting page at `/` (`drafting`), under the navbar every page shows;
- the workshop's participant and facilitator pages and its named endpoints
  (`workshop.mount.mount_workshop`), added after the main page's Blocks has closed;
- the JSON API at `/api` (`api.create_api`), and the door in front of every event (`door`).

One engine and one review pool serve all of them. Nothing else lives here: what a page shows
is in its own module, what a draft may be is in `drafts`, the shared words are in `ui`.
Imported first on the way to a server (`cli serve`), so it sets Gradio's environment before
anything imports gradio.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any

# The app never talks to the outside world; this must be set before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event (for its
# monitoring page, which krcoach turns off): a cost that grows with uptime. Summarise rarely.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

from krcoach.workshop.store import default_data_dir  # noqa: E402

#: Gradio keeps a copy of every file the page hands out or receives (downloads, uploads) in
#: GRADIO_TEMP_DIR, by default a shared, world-readable /tmp/gradio. krcoach's own folder instead,
#: owner-only (see `private_temp_dir`); an explicit GRADIO_TEMP_DIR is respected. Set before
#: gradio is imported, as some of its modules read it then.
GRADIO_TEMP_SUBDIR = "gradio-tmp"
_DEFAULT_TEMP_DIR: str | None = None  # the value set here, when the user named none
if not os.environ.get("GRADIO_TEMP_DIR"):  # unset or blank: Gradio would use /tmp/gradio
    _DEFAULT_TEMP_DIR = os.environ["GRADIO_TEMP_DIR"] = str(default_data_dir() / GRADIO_TEMP_SUBDIR)

import gradio as gr  # noqa: E402

from krcoach.engine import Engine, make_engine  # noqa: E402
from krcoach.web import api, door, drafting, limits  # noqa: E402
from krcoach.web.ui import MAIN_PAGE_NAME, engine_label  # noqa: E402
from krcoach.workshop.mount import mount_workshop  # noqa: E402

#: Events waiting beyond this get Gradio's "busy, try again" message instead of a long wait.
QUEUE_MAX_SIZE = 256
#: Gradio's cached copies of downloads: swept hourly, kept six hours.
DELETE_CACHE = (3600, 6 * 3600)
_STATIC = Path(__file__).resolve().parent.parent / "static"


def private_temp_dir() -> Path:
    """Make Gradio's file folder (GRADIO_TEMP_DIR) before Gradio does, owner-only (0700): Gradio
    creates it 0755 and its copies keep the source file's mode. krcoach's default folder is
    also tightened if an older run left it open; a folder the user named is created 0700 when
    missing but otherwise left as it is (it may be shared, like /tmp). The default follows
    KRCOACH_DATA_DIR as it is now (it may have been set after this module was imported)."""
    global _DEFAULT_TEMP_DIR
    named = os.environ.get("GRADIO_TEMP_DIR")
    ours = not named or named == _DEFAULT_TEMP_DIR
    folder = default_data_dir() / GRADIO_TEMP_SUBDIR if ours else Path(named or "")
    if ours:
        _DEFAULT_TEMP_DIR = os.environ["GRADIO_TEMP_DIR"] = str(folder)
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if ours and folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def build_app(engine: Engine | str | None = None) -> gr.Blocks:
    """The drafting page, the workshop pages and the JSON API on one engine, not yet launched."""
    eng = engine if isinstance(engine, Engine) else make_engine(engine)
    private_temp_dir()
    # Every review on this server (page, `review` endpoint, JSON API) runs in this one pool.
    pool = review_pool(eng)
    with gr.Blocks(title="krcoach · OKR coach", analytics_enabled=False,
                   delete_cache=DELETE_CACHE) as demo:
        # Names this page in the navbar Gradio shows once the workshop adds its pages.
        gr.Navbar(main_page_name=MAIN_PAGE_NAME)
        drafting.build_page(eng, pool)
    mount_workshop(demo, eng)  # one engine (and one LLM client and cache) for both screens
    door.install(demo)  # every event's values are checked before Gradio reads them
    # No event skips the queue: Gradio's direct `/gradio_api/run/<name>` route refuses queued
    # events (the page's `queue=False` events only copy text and never review).
    demo.api_open = False
    demo.krcoach_pool = pool  # type: ignore[attr-defined]
    demo.krcoach_api = api.create_api(eng, pool)  # type: ignore[attr-defined]
    return demo


def review_pool(eng: Engine) -> limits.ReviewPool:
    """The server's one review pool: rules reviews in two worker processes per core (at least 4,
    at most 16: more processes than cores, so a client running its full share of large drafts
    gets its share of the cores, not all of them), llm reviews in `drafting.LLM_CONCURRENCY`
    threads."""
    if eng.name == "rules":
        return limits.ReviewPool(workers=min(16, max(4, 2 * (os.cpu_count() or 2))), processes=True)
    return limits.ReviewPool(workers=drafting.LLM_CONCURRENCY)


def api_routes(demo: gr.Blocks) -> list[Any]:
    """Routes `serve` puts ahead of Gradio's own: the JSON API at /api, and a refusal for
    Gradio's deep-link route, which writes a file per call and which krcoach never uses."""
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    def no_deep_links(request: Any) -> JSONResponse:
        return JSONResponse({"error": "Deep links are not used by krcoach."}, status_code=404)

    return [Mount("/api", app=demo.krcoach_api),  # type: ignore[attr-defined]
            Route("/gradio_api/deep_link", no_deep_links)]


def launch_options() -> dict[str, Any]:
    """Everything `launch()` needs to stay local and look right (shared with tests)."""
    return dict(
        css=(_STATIC / "app.css").read_text(encoding="utf-8"),
        share=False,
        footer_links=["api"],
        max_file_size="2mb",
        enable_monitoring=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        show_error=False,
        run_history=False,
    )


def serve(host: str = "127.0.0.1", port: int = 7860, engine: str | None = None) -> None:
    """Run the app until interrupted (`krcoach serve`)."""
    # Everything the server writes (Gradio's copies of downloads and uploads, its folders, the
    # exports) is for its own user only: 0700 folders, 0600 files.
    os.umask(0o077)
    eng = make_engine(engine)
    demo = build_app(eng)
    demo.queue(max_size=QUEUE_MAX_SIZE, api_open=False)
    # quiet: Gradio's banner suggests share links, which krcoach never makes; say what matters.
    demo.launch(server_name=host, server_port=port, inbrowser=False, quiet=True,
                prevent_thread_lock=True,
                app_kwargs={"routes": api_routes(demo), **door.app_kwargs()},  # door: one-line 4xx
                state_session_capacity=limits.MAX_SESSIONS, **launch_options())
    limits.bound_sessions(demo.server_app.state_holder)
    demo.krcoach_pool.start()  # type: ignore[attr-defined]
    atexit.register(demo.krcoach_pool.close)  # type: ignore[attr-defined]
    url = demo.local_url or f"http://{host}:{port}/"
    print(f"krcoach is running at {url} (engine: {engine_label(eng.name, eng.model)}); "
          f"workshop at {url.rstrip('/')}/facilitate. Press Ctrl-C to stop.",
          file=sys.stderr, flush=True)
    demo.block_thread()
