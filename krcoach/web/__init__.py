"""What the server shows: the drafting page, the JSON API, and the guards in front of them.

- `app`: composes the app (the drafting page, the workshop, the JSON API) and serves it;
- `drafting`: the drafting page and its `review` endpoint; `review_html`, `plan_html`: the
  review as HTML; `downloads`: the files the page hands out;
- `drafts`: the limits and checks of a draft, shared by the page and the API;
- `ui`: escaping, badges, labels and the navbar name, shared by every page;
- `api`: `POST /api/review` and its OpenAPI page;
- `limits`: the bounded review pool with a per-client share, used by every route that reviews;
- `validate`, `door`: one readable line for a bad request, never a traceback;
- `examples`: the example drafts on the page.
"""
