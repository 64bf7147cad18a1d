"""The dataset's published side files, read line by line: the video and image metadata,
the unlabeled images' features (ARFF) and clusters, and the labels six models predicted
for them. Each reader takes a path, streams it, and raises ArchiveError (exit 6) naming
the file and the line for anything it cannot read."""
