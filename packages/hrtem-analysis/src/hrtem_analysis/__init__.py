"""hrtem-analysis."""
