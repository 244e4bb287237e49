"""Scripts that record data, train and evaluate GenieDream worlds. Each runs as ``python -m trainers.NAME``."""
