"""Suite-wide settings, applied before any test module imports torch."""

import os

# Spinning OpenMP threads make torch several times slower on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
