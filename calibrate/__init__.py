"""``python -m calibrate``: how often the verdict is wrong, measured on synthetic markets."""
