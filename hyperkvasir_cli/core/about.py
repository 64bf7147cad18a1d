"""What names this program to the outside: its version (in split.json, extraction
markers, the User-Agent) and the prefix of its environment variables. Importable from
anywhere at no cost, so that no module needs the package's public face for it."""

__version__ = "0.1.0"

# Every setting can come from an environment variable with this prefix.
ENV_PREFIX = "HYPERKVASIR_"
