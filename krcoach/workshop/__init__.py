"""Workshop mode: a live rewriting exercise for 30-100 people.

- `store`: the SQLite database under `KRCOACH_DATA_DIR` (state never lives in process memory);
- `domain`: workshops, rounds, submissions, votes, limits and exports, with no UI in it;
- `participant`, `facilitator`: the two pages; `endpoints`: the named workshop API;
- `render`: the pages' HTML; `links`: paths, join links, QR codes; `identity`: who is asking;
- `backend`: the store, engine and concurrency groups the handlers share; `pacer`: how
  submissions are run and a flood is paced;
- `mount`: puts the pages and the endpoints on the app.
"""
