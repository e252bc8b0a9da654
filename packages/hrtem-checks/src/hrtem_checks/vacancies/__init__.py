"""The vacancy check of MoS2 models: counts on the test split of the model's training run, one
exit-wave period per image (``test_split``), and on realistic focal series (``scenes`` simulates
them: flakes with holes, frames that cut the lattice, drift; ``realistic`` counts and scores)."""
