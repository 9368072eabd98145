"""Datasets: CSV or JSON Lines tables kept in the database, read row by row to train versions.

``parsing`` checks a file and infers its schema once, at upload; ``services`` store and delete datasets;
``selectors`` find them; ``reading`` yields their rows (``dataset_rows``, the reader training jobs use).
"""

from catalogue.datasets.reading import dataset_preview, dataset_rows, records

__all__ = ["dataset_preview", "dataset_rows", "records"]
