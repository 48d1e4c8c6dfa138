"""Prompt templates for the llm engine, shipped in the wheel as `krcoach.prompts`.

Each template starts with a `version:` line; the version and a hash of the text are part of every
cache key and of the eval manifest, so editing a prompt never serves a stale answer.
"""
