"""Training-ready shards of a part: Parquet and WebDataset, written deterministically.

``items`` says what is exported (one item per image, with its labels and split),
``plan`` cuts the items into shards and row groups by bytes, ``parquet`` and
``webdataset`` write one shard each, ``destination`` puts shards in a folder or a bucket,
and ``writer`` runs it all and writes ``export.json``. pyarrow (the extra
``hyperkvasir[export]``) is imported only by the Parquet writers. ``features`` writes a
table rather than image shards: the unlabeled images' features joined with their clusters
and predicted labels, as one CSV or Parquet file.
"""
