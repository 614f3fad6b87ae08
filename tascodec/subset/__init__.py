"""Diverse subsets of videos and the container operations built on them (no re-encoding)."""
from __future__ import annotations

from .selection import STRATEGIES, distance, diverse_order, mean_distance, select, sequences_of, subset_size

__all__ = ["STRATEGIES", "distance", "diverse_order", "mean_distance", "select", "sequences_of", "subset_size"]
