"""Statistics of a part next to the published counts: overview, segmentation, videos."""
