"""What the dataset means: what a member path says (part, organ, category, class), the
files of a part from a tree or an archive, image and video headers, statistics, plots
and splits.
"""
