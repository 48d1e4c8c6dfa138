"""The project's labelled evaluation sets, shipped in the wheel as `krcoach.evals` so that
`krcoach eval` without `--dataset` works from any folder. See README.md here for the labelling guide.
"""
