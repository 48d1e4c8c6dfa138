"""What the server shows: the drafting page, the JSON API, and the guards in front of them.

- `app`: builds the Gradio app (the drafting page) and mounts the API and the workshop pages;
- `api`: `POST /api/review` and its OpenAPI page;
- `limits`: the bounded review pool with a per-client share, used by every route that reviews;
- `validate`, `door`: one readable line for a bad request, never a traceback;
- `examples`: the example drafts on the page.
"""
