"""hyperkvasir: get the HyperKvasir endoscopy dataset onto a machine and keep it right."""

__version__ = "0.1.0"
