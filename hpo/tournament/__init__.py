"""The tournament: turns pairwise match results into one winner (`strategies/`, by name through
`registry`), with the match, ranking, confidence and audit around it."""
