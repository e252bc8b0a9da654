"""hrtem-checks: how well a trained model does where users use it, on simulations whose truth is
known and whose seeds are disjoint from training, beside a classical baseline where one exists.

- :mod:`hrtem_checks.scenes`: Au particles on amorphous carbon in large frames (the scene check);
- :mod:`hrtem_checks.series`: a drifting particle that tilts and loses columns at known frames;
- :mod:`hrtem_checks.vacancies`: MoS2 focal series with known sulphur vacancies;
- :mod:`hrtem_checks.threshold`: the zone-axis threshold calibrated on simulated particles.

Each is ``hrtem check scenes | series | vacancies | threshold``. The checks simulate with
hrtem-sim's abTEM extra; the analysis they score is hrtem-analysis, run as users run it.
"""
