"""Data sets shipped with hlmteach (installed as ``hlmteach.datasets``).

The files in this folder are read with :func:`hlmteach.load_timss`,
:func:`hlmteach.load_hsb` and :func:`hlmteach.load_pisa`; ``README.md`` here
gives their provenance, and ``pisa2012_usa.md`` that of the PISA 2012 extract.
"""
