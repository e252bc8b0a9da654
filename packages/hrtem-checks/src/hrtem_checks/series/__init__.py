"""The series check: a simulated series whose frame selection, column counts, drift and events
are known (``scenario``), analysed as users analyse theirs and scored (``check``)."""
