"""How trainings are chosen and run: the plan, search spaces, the train-stage methods (the grid,
`adaptive/` search and multi-fidelity halving), Ray Tune, and cluster placement."""
