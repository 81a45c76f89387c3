"""Data sets shipped with hlmteach (installed as ``hlmteach.datasets``).

The files in this folder are read with :func:`hlmteach.load_timss` and
:func:`hlmteach.load_hsb`; ``README.md`` here gives their provenance.
"""
