"""hyperkvasir: get the HyperKvasir endoscopy dataset onto a machine and keep it right."""

__version__ = "0.1.0"

# Every setting can come from an environment variable with this prefix.
ENV_PREFIX = "HYPERKVASIR_"
