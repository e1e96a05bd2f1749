"""`python -m crypto_tune` does what the `crypto-tune` console script does."""

from crypto_tune.cli import main

if __name__ == "__main__":
    main()
