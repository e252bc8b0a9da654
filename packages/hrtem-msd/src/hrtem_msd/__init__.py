"""hrtem-msd: Mixed-Scale Dense networks, a U-Net baseline, their training and their store.

Subpackages: ``nets`` (the networks), ``training`` (Lightning), ``store`` (loading and registering
models), ``evaluation`` (test-split dose sweep, run comparison); ``config`` is the typed config.

``SegmentationModule`` is imported on first use, so inference code does not pay Lightning's import;
``load_model`` (a registered model by URI) likewise does not import MLflow until used.
"""

from hrtem_core.cards import ModelCard
from hrtem_core.lazy import lazy_exports

from hrtem_msd.nets import MSDNet, UNet, build, get_model, list_models
from hrtem_msd.threads import configure_threads

__all__ = [
    "MSDNet",
    "ModelCard",
    "SegmentationModule",
    "UNet",
    "build",
    "configure_threads",
    "get_model",
    "list_models",
    "load_model",
]


__getattr__ = lazy_exports(
    __name__,
    {"SegmentationModule": "hrtem_msd.training.module", "load_model": "hrtem_msd.store.load"},
)
