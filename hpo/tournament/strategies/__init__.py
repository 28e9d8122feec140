"""Tournament strategies, one module each, found by name through `hpo.tournament.registry`."""
