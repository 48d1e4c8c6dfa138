"""Workshop mode: a live rewriting exercise for 30-100 people.

- `store`: the SQLite database under `KRCOACH_DATA_DIR` (state never lives in process memory);
- `domain`: workshops, rounds, submissions, votes, limits and exports, with no UI in it;
- `pages`: the facilitator and participant pages and the workshop API endpoints.
"""
