"""Adaptive search with the judge in the loop: Optuna TPE proposals and ASHA early stopping.

Each trial's epoch report carries `judge_winrate`, its answers' win rate against a fixed
anchor (the Alpaca-default baseline) judged by the run's pairwise judge. Searchers and
schedulers use that metric to propose and to stop; the final decision is still the
tournament over every candidate the search produced.
"""
