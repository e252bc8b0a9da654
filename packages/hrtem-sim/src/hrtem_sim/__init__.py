"""hrtem-sim: structures, abTEM exit waves, image formation and labels for HR-TEM.

Names are imported on first use, so ``import hrtem_sim.optics`` (image formation) loads neither
abTEM nor ASE; simulating needs the ``simulate`` extra (``pip install 'hrtem-sim[simulate]'``).
"""

from hrtem_core.lazy import lazy_exports

_EXPORTS = {
    "COLUMN_CLASSES": "hrtem_sim.columns",
    "group_columns": "hrtem_sim.columns",
    "open_dataset": "hrtem_sim.dataset",
    "dataset_card": "hrtem_sim.card",
    "simulate_dataset": "hrtem_sim.simulate",
    "dataset_path": "hrtem_sim.spec",
    "load_spec": "hrtem_sim.spec",
    "spec_hash": "hrtem_sim.spec",
    "build_structure": "hrtem_sim.structures",
    "list_structures": "hrtem_sim.structures",
    "params_type": "hrtem_sim.structures",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
