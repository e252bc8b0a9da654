"""Training on simulated data: the LightningModule (``module``), the DataModule that forms images
on the fly (``datamodule``), losses, the learning-rate schedule, column metrics, figures, the
dataset hand-over checks, resuming, the run's records, and ``train.train(config)``."""
