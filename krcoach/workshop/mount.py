"""Mounting the workshop on the app: the participant page at `/workshop`, the facilitator page
at `/facilitate`, and the named workshop endpoints, all on one `Backend` (one store, the app's
engine, one submission pacer).
"""

from __future__ import annotations

import gradio as gr

from krcoach.engine import Engine
from krcoach.web.ui import MAIN_PAGE_NAME
from krcoach.workshop import endpoints, facilitator, participant
from krcoach.workshop.backend import Backend
from krcoach.workshop.links import FACILITATOR_PATH, PARTICIPANT_PATH


def mount_workshop(demo: gr.Blocks, engine: Engine | str | None) -> None:
    """Add the participant page (/workshop), the facilitator page (/facilitate) and the named
    workshop API endpoints to `demo`. Call it after `demo`'s own `with` block has closed: it adds
    pages with `demo.route(...)`."""
    backend = Backend(engine)
    with demo.route("Workshop", "/" + PARTICIPANT_PATH):
        gr.Navbar(main_page_name=MAIN_PAGE_NAME)  # each page draws its own navbar
        participant.build_page(demo, backend)
        endpoints.add_endpoints(backend)
    with demo.route("Run a workshop", "/" + FACILITATOR_PATH):
        gr.Navbar(main_page_name=MAIN_PAGE_NAME)
        facilitator.build_page(demo, backend)
