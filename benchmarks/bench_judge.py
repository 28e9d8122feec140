"""Judge throughput, every method on the same judge, the same prompts, timed the same way.

Methods (all in one process, same torch thread count, same batch size where they batch):
  reference  PandaLM's own inference loop (WeOpenML/PandaLM pandalm/utils/pandalm_inference.py):
             one sample at a time, num_beams=4, early_stopping, repetition_penalty=1.2,
             max_new_tokens=512, return_dict_in_generate + output_scores (torch.compile skipped:
             on CPU it only adds compile time);
  faithful   HFJudge mode `faithful`: the same decoding, batched;
  full       HFJudge mode `full`: greedy, up to 512 tokens (verdict, reason, reference);
  verdict    HFJudge mode `verdict`: greedy, stops at the first newline;
  logprobs   HFJudge mode `logprobs`: one forward pass, P("1"), P("2"), P("Tie");
  prefill    one batched forward pass over the pre-tokenised prompts, nothing else: the floor.
Every method runs on the same `--items` prompts, once untimed (warm-up), then `--repeats`
timed times; the table shows the median, judgments/s, and ratios to the reference loop and
to pure prefill. Use `--model DIR` for a trained judge (its `heldout.jsonl`, when present,
gives the prompts); the default is a random tiny LLaMA, on which generation runs to the
token limit (no EOS): a worst case for every generating method.

Usage: python benchmarks/bench_judge.py [--model DIR] [--items 32] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judge.backends.hf import HFJudge  # noqa: E402
from judge.fit import prompt_of  # noqa: E402
from judge.types import JudgeRequest  # noqa: E402
from tests.helpers.tiny_llama import build_tiny_llama  # noqa: E402

METHODS = ("reference", "faithful", "full", "verdict", "logprobs", "prefill")


def synthetic_requests(n: int, seed: int = 0) -> list[JudgeRequest]:
    """Synthetic-suite-like comparisons (reverse / uppercase), both answers short."""
    rng = random.Random(seed)
    reqs = []
    for _ in range(n):
        word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 12)))
        task, good = rng.choice([("Reverse the string.", word[::-1]), ("Uppercase the word.", word.upper())])
        reqs.append(JudgeRequest(task, word, good, word))
    return reqs


def heldout_requests(model_dir: str, n: int) -> list[JudgeRequest] | None:
    """The first `n` pairs of a trained judge's held-out split, if it has one."""
    path = Path(model_dir) / "heldout.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:n]
    return [JudgeRequest(r["instruction"], r.get("input") or "", r["response1"], r["response2"]) for r in rows]


def reference_loop(judge: HFJudge, prompts: list[str]) -> list[int]:
    """PandaLM's `inference()`, argument for argument, on our model; returns new-token counts.

    (The reference passes return_dict_in_generate/output_scores/max_new_tokens to generate()
    beside its GenerationConfig; transformers 5 deprecates that, so they go in the config.)
    """
    from transformers import GenerationConfig

    new_tokens = []
    config = GenerationConfig(temperature=0, top_p=1, top_k=1, num_beams=4, early_stopping=True,
                              repetition_penalty=1.2, max_new_tokens=512, return_dict_in_generate=True,
                              output_scores=True, pad_token_id=judge.tokenizer.pad_token_id,
                              eos_token_id=judge.tokenizer.eos_token_id)
    for prompt in prompts:
        input_ids = judge.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            gen = judge.model.generate(input_ids=input_ids, generation_config=config)
        for seq in gen.sequences:  # the reference decodes every returned sequence
            judge.tokenizer.decode(seq)
        new_tokens.append(int(gen.sequences.shape[1] - input_ids.shape[1]))
    return new_tokens


@torch.inference_mode()
def prefill(judge: HFJudge, ids: list[list[int]], batch_size: int) -> None:
    """One forward pass per batch (left-padded, pre-tokenised), no decoding: the floor."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        batch = judge.tokenizer.pad({"input_ids": [ids[i] for i in order[start : start + batch_size]]},
                                    padding=True, return_tensors="pt")
        positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        judge.model(**batch, position_ids=positions, use_cache=False, logits_to_keep=1)


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """One untimed warm-up call, then `repeats` timed calls: (median, all times)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def build_methods(model_dir: str, reqs: list[JudgeRequest], batch_size: int) -> dict[str, Callable[[], object]]:
    judges = {m: HFJudge(model_dir, mode=m, batch_size=batch_size) for m in ("faithful", "full", "verdict", "logprobs")}
    base = judges["logprobs"]
    prompts = [prompt_of(r) for r in reqs]
    ids = [base.tokenizer(p)["input_ids"] for p in prompts]
    methods: dict[str, Callable[[], object]] = {"reference": lambda: reference_loop(base, prompts)}
    for mode, judge in judges.items():
        methods[mode] = lambda judge=judge: judge.judge(reqs)  # type: ignore[misc]
    methods["prefill"] = lambda: prefill(base, ids, batch_size)
    return methods


def measure(model_dir: str, items: int, repeats: int, batch_size: int, only: list[str]) -> None:
    reqs = heldout_requests(model_dir, items) or synthetic_requests(items)
    methods = build_methods(model_dir, reqs, batch_size)
    results = {}
    for name in only:
        results[name] = median_seconds(methods[name], repeats)
        print(f"  {name}: median {results[name][0]:.3f}s over {repeats} ({', '.join(f'{t:.3f}' for t in results[name][1])})",
              file=sys.stderr, flush=True)
    print(f"model={model_dir} threads={torch.get_num_threads()} batch={batch_size} items={len(reqs)} "
          f"repeats={repeats} (medians)")
    print(f"| {'method':<10} | {'median s':>9} | {'judgments/s':>11} | {'x reference':>11} | {'x prefill':>9} |")
    print(f"|{'-' * 12}|{'-' * 11}|{'-' * 13}|{'-' * 13}|{'-' * 11}|")
    rate = {n: len(reqs) / secs for n, (secs, _) in results.items()}
    for name, (secs, _) in results.items():
        vs_ref = f"{rate[name] / rate['reference']:.1f}" if "reference" in rate else "-"
        vs_pre = f"{rate[name] / rate['prefill']:.2f}" if "prefill" in rate else "-"
        print(f"| {name:<10} | {secs:>9.3f} | {rate[name]:>11.1f} | {vs_ref:>11} | {vs_pre:>9} |")
    if "logprobs" in rate and "prefill" in rate:
        print(f"logprobs time / prefill time = {results['logprobs'][0] / results['prefill'][0]:.2f}x (aim <= 1.3x)")
    if "logprobs" in rate and "reference" in rate:
        print(f"logprobs / reference loop throughput = {rate['logprobs'] / rate['reference']:.0f}x (aim >= 20x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    ap.add_argument("--model", default=None, help="judge model dir (default: build a random tiny LLaMA)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    only = [m for m in args.methods.split(",") if m]
    unknown = set(only) - set(METHODS)
    if unknown or args.repeats < 1 or args.items < 1:
        ap.error(f"unknown methods {sorted(unknown)} or repeats/items < 1")
    if args.model:
        measure(args.model, args.items, args.repeats, args.batch_size, only)
        return
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        measure(str(build_tiny_llama(tmp)), args.items, args.repeats, args.batch_size, only)


if __name__ == "__main__":
    main()
