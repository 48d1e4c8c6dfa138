"""Measuring the coaching offline.

- `run`: `krcoach eval`: a labelled dataset through an engine, scored, with a run manifest;
- `replay`: record a capable model's answers and serve them again from a local
  OpenAI-compatible server (`python -m krcoach.evaluation.replay`);
- `replay_plans`: the same for plan review;
- `grading`: blind grading sheets for people or helpers (`python -m krcoach.evaluation.grading`).
"""
