"""Models judged on their own training data: the dose sweep on a model's test split
(``dose_sweep``) and runs of one task compared side by side (``compare``). Checks on simulated
cases that look like users' frames are :mod:`hrtem_checks`."""
