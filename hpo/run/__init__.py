"""`hpo run` as one straight sequence of stages; `hpo.run.pipeline.run` reads top to bottom.

plan -> stage inputs -> train (Ray Tune) -> judge (tournament, overlapping training) -> decide
-> record. See docs/architecture.md.
"""
