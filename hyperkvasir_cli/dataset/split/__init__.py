"""Reproducible splits of the labeled images: assignment, the official split files, and
writers for CSV, JSON and ImageFolder trees."""
