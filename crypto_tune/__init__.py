"""crypto-tune: two-stage tuning of ML crypto trading strategies, with an honest verdict."""

from crypto_tune.exceptions import CryptoTuneError

__version__ = "0.1.0"
__all__ = ["CryptoTuneError", "__version__"]
