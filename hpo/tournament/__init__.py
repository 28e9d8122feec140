"""Tournament strategies: turn pairwise match results into one winner."""
