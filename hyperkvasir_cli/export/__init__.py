"""Training-ready copies of the dataset's data: tables and shards written whole or not at
all, byte-reproducible, each listed in an ``export.json`` beside them."""
