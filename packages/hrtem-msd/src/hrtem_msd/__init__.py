"""hrtem-msd."""
