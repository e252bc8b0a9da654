"""hrtem-core: errors, stage cards, atomic writes, microscope-file readers and dask clients.

Nothing here knows physics or learning; every other hrtem package builds on it.
"""
