"""hpo: hyperparameter search for LLM instruction tuning, decided by a pairwise LLM judge."""

__version__ = "0.1.0"
