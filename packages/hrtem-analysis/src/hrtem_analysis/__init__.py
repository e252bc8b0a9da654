"""hrtem-analysis: tiled inference, Fourier zone-axis analysis, atomic columns, MoS2 vacancies."""

from hrtem_analysis.columns import count_events, find_columns, match_columns
from hrtem_analysis.fourier import (
    PeakPair,
    PeakPairResult,
    alignment_map,
    particle_ratios,
    particles,
    peak_pair_ratio,
)
from hrtem_analysis.tiled import tiled_predict
from hrtem_analysis.vacancies import VacancyCount, count_vacancies, species_columns

__all__ = [
    "PeakPair",
    "PeakPairResult",
    "VacancyCount",
    "alignment_map",
    "count_events",
    "count_vacancies",
    "find_columns",
    "match_columns",
    "particle_ratios",
    "particles",
    "peak_pair_ratio",
    "species_columns",
    "tiled_predict",
]
