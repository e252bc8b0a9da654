"""hrtem-sim: structures, abTEM exit waves, image formation and labels for HR-TEM."""

from hrtem_sim.columns import COLUMN_CLASSES, find_columns
from hrtem_sim.dataset import open_dataset
from hrtem_sim.simulate import simulate_dataset
from hrtem_sim.spec import dataset_path, load_spec, spec_hash
from hrtem_sim.structures import build_structure, list_structures, params_type

__all__ = ["dataset_path", "load_spec", "open_dataset", "simulate_dataset", "spec_hash"]
__all__ += ["COLUMN_CLASSES", "build_structure", "find_columns", "list_structures", "params_type"]
