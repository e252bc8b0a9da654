"""The scene check: Au particles on amorphous carbon in frames like the users' (large, mostly
substrate, several particles on and off their zone axes). ``benchmark`` simulates and scores the
scenes, ``detection`` matches particles and computes the metrics, ``classical`` is the baseline
(local variance + Otsu), ``report`` writes tables, plots and MLflow records."""
