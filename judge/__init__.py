"""judge: pairwise LLM judging in the PandaLM protocol, with pluggable backends and a verdict store."""
