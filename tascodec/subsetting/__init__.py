"""Diverse subsets of videos and the container operations built on them (no re-encoding)."""
from __future__ import annotations

from .contents import activities_of, content_sequences, merge_contents, split_by_activity, subset_content
from .files import SubsetReport, merge_files, safe_file_name, split_file, subset_dataset, subset_file
from .selection import STRATEGIES, distance, diverse_order, mean_distance, select, sequences_of, subset_size

__all__ = ["STRATEGIES", "distance", "diverse_order", "mean_distance", "select", "sequences_of", "subset_size",
           "SubsetReport", "activities_of", "content_sequences", "merge_contents", "merge_files", "safe_file_name",
           "split_by_activity", "split_file", "subset_content", "subset_dataset", "subset_file"]
