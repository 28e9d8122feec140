"""Train a causal LM as a PandaLM-protocol judge (`hpo judge train`).

Standalone like the rest of `judge/`: nothing here imports `hpo`. The pieces:
`data` (PandaLM-format pairs, targets, swap augmentation, reference drop),
`tokenizer` (a byte-level BPE for a judge trained from scratch), `model` (a tiny LLaMA),
`trainer` (the loop: loss on the target only, AdamW, cosine with warmup) and `recipe`
(the named recipes: PandaLM's for real models, the tiny CPU one).
"""
