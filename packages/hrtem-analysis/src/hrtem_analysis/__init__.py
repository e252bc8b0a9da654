"""hrtem-analysis: tiled inference, Fourier zone-axis analysis, atomic columns, MoS2 focal series
and vacancies.

Names are imported on first use: ``hrtem_analysis.settings`` (the defaults) loads without torch.
"""

from hrtem_core.lazy import lazy_exports

_EXPORTS = {
    "check_series": "hrtem_analysis.focal_series",
    "count_focal_series": "hrtem_analysis.focal_series",
    "register_series": "hrtem_analysis.focal_series",
    "count_events": "hrtem_analysis.columns",
    "detect_columns": "hrtem_analysis.columns",
    "match_columns": "hrtem_analysis.columns",
    "PeakPair": "hrtem_analysis.fourier",
    "PeakPairResult": "hrtem_analysis.fourier",
    "alignment_map": "hrtem_analysis.fourier",
    "particle_ratios": "hrtem_analysis.fourier",
    "particles": "hrtem_analysis.fourier",
    "peak_pair_ratio": "hrtem_analysis.fourier",
    "Settings": "hrtem_analysis.settings",
    "tiled_predict": "hrtem_analysis.tiled",
    "VacancyCount": "hrtem_analysis.vacancies",
    "count_vacancies": "hrtem_analysis.vacancies",
    "counted_region": "hrtem_analysis.vacancies",
    "species_columns": "hrtem_analysis.vacancies",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
