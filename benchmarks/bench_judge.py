"""Judge throughput on one tiny model: our batched verdict-only HFJudge vs PandaLM's loop.

Measures, in one process and with the same torch thread count for all three:
  (a) HFJudge, verdict-only mode (batched greedy, left padding, <= 4 new tokens);
  (b) a faithful re-creation of PandaLM's reference inference loop
      (WeOpenML/PandaLM pandalm/utils/pandalm_inference.py): one sample at a time,
      num_beams=4, early_stopping=True, repetition_penalty=1.2, temperature=0, top_p=1,
      top_k=1, max_new_tokens=512, return_dict_in_generate + output_scores. (We skip its
      torch.compile: on CPU it only adds compile time.) With random weights the beams may
      never emit EOS and run all 512 tokens; that is the reference's real worst-case cost;
  (c) pure prefill: one batched forward pass over the same prompts, the practical limit.

Usage: python benchmarks/bench_judge.py [--threads 1] [--items 256] [--ref-items 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judge.backends.hf import HFJudge  # noqa: E402
from judge.prompt import build_prompt  # noqa: E402
from judge.types import JudgeRequest  # noqa: E402
from tests.helpers.tiny_llama import build_tiny_llama  # noqa: E402


def make_requests(n: int, seed: int = 0) -> list[JudgeRequest]:
    """Synthetic-suite-like comparisons (reverse / uppercase), both answers short."""
    rng = random.Random(seed)
    reqs = []
    for _ in range(n):
        word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 12)))
        task, good = rng.choice([("Reverse the string.", word[::-1]), ("Uppercase the word.", word.upper())])
        reqs.append(JudgeRequest(task, word, good, word))
    return reqs


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
def prefill(judge: HFJudge, prompts: list[str], batch_size: int) -> None:
    """One forward pass per batch (left-padded), no decoding: the floor for any judge."""
    ids = [judge.tokenizer(p)["input_ids"] for p in prompts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        batch = judge.tokenizer.pad({"input_ids": [ids[i] for i in order[start : start + batch_size]]},
                                    padding=True, return_tensors="pt")
        judge.model(**batch, use_cache=False)


def measure(model_dir: str, items: int, ref_items: int, batch_size: int) -> None:
    """Time (a), (b), (c) and (a') on `model_dir` and print the table and ratios."""
    judge = HFJudge(model_dir, batch_size=batch_size)
    two = HFJudge(model_dir, batch_size=batch_size, max_new_tokens=2)
    reqs = make_requests(items)
    prompts = [build_prompt(r.instruction, r.input, r.response1, r.response2) for r in reqs]
    judge.judge(reqs[:batch_size])  # warm-up
    prefill(judge, prompts[:batch_size], batch_size)
    t_ours = min(timed(lambda: judge.judge(reqs)) for _ in range(5))
    t_two = min(timed(lambda: two.judge(reqs)) for _ in range(5))
    t_pre = min(timed(lambda: prefill(judge, prompts, batch_size)) for _ in range(5))
    new_tokens: list[int] = []
    t_ref = timed(lambda: new_tokens.extend(reference_loop(judge, prompts[:ref_items])))
    rows = [("(a) HFJudge verdict-only, batched", items, t_ours),
            ("(b) PandaLM reference loop", ref_items, t_ref),
            ("(c) prefill only, batched", items, t_pre),
            ("(a') HFJudge, 2 new tokens ('1\\n')", items, t_two)]
    mean_len = sum(len(judge.tokenizer(p)["input_ids"]) for p in prompts) / len(prompts)
    print(f"threads={torch.get_num_threads()} batch={batch_size} mean prompt tokens={mean_len:.0f} "
          f"reference new tokens={new_tokens}")
    print(f"| {'method':<36} | {'n':>4} | {'seconds':>8} | {'judgments/s':>11} |")
    print(f"|{'-' * 38}|{'-' * 6}|{'-' * 10}|{'-' * 13}|")
    for name, n, secs in rows:
        print(f"| {name:<36} | {n:>4} | {secs:>8.3f} | {n / secs:>11.1f} |")
    ours, ref, pre, _ = (n / s for _, n, s in rows)
    print(f"ours / reference loop = {ours / ref:.0f}x ; prefill / ours = {pre / ours:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--items", type=int, default=256)
    ap.add_argument("--ref-items", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default=None, help="model dir (default: build the tiny LLaMA)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        measure(args.model, args.items, args.ref_items, args.batch_size)
        return
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        measure(str(build_tiny_llama(tmp)), args.items, args.ref_items, args.batch_size)


if __name__ == "__main__":
    main()
