"""Terminal tables for a finished run (`hpo report RUN`, and the end of `hpo run`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.reporting.card import describe


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table; floats get 3 significant decimals."""
    def fmt(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) and abs(v) < 0.01 else (
            f"{v:.3f}" if isinstance(v, float) else str(v))

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def render(report: dict[str, Any], top: int = 10, all_matches: bool = True) -> str:
    w, truth, base = report["winner"], report.get("truth"), report.get("baseline")
    out = [f"== Winner ({report['strategy']}, judge {report['judge']}, policy {report['policy']}) ==",
           table(["candidate", "optimizer", "lr", "scheduler", "epoch"],
                 [[w["candidate_id"], w["optimizer"], w["lr"], w["scheduler"], w["epoch"]]])]
    if report.get("judge_card"):
        out.append(describe(report["judge_card"]))
    if truth:
        out.append(f"true exact-match accuracy {truth['winner_exact_match']:.3f}, true rank "
                   f"{truth['winner_true_rank']} of {truth['n_ranked']}, regret {truth['regret']:.3f}"
                   f" (best: {truth['best_candidate']} at {truth['best_exact_match']:.3f})")
    out += confidence_lines(report.get("winner_confidence_set"))
    if base:
        out += ["", "== Winner vs Alpaca-default baseline (Table 5 style) ==",
                table(["winner", "baseline", "win", "lose", "tie", "invalid"],
                      [[w["candidate_id"], base["candidate_id"], base["win"], base["lose"],
                        base["tie"], base["invalid"]]])]
    out += [*trust_lines(report.get("judge_audit")), *bias_lines(report),
            *val_loss_lines(report.get("val_loss_pick"), report["strategy"])]
    out += ["", *ranking_section(report, top)]
    played = [m for m in report["matches"] if not m["forfeit"]]
    shown = played if all_matches else [m for m in played if m["stage"] in ("final", "baseline")]
    note = "" if all_matches else "; final stage shown, all with: hpo report RUN"
    out += ["", f"== Matches ({len(played)} played, {report['judge_calls']} judge calls, "
                f"{report['judge_calls_saved_by_early_decision']} saved by early decision{note}) ==",
            table(["stage", "a", "b", "win", "lose", "tie", "items", "winner"],
                  [[m["stage"], m["a"], m["b"], m["wins"], m["losses"], m["ties"],
                    f"{m['items_judged']}/{m['items_total']}", m["winner"]] for m in shown])]
    errors = {c: n for c, n in report.get("judge_stats", {}).get("per_candidate", {}).items()
              if n.get("invalid") or n.get("truncated")}
    if errors:
        out += ["", "== Judge errors per candidate (invalid items count for neither side; "
                    "truncated answers were cut to fit the judge's context) ==",
                table(["candidate", "invalid items", "truncated answers"],
                      [[c, n.get("invalid", 0), n.get("truncated", 0)] for c, n in sorted(errors.items())])]
    if report.get("cost"):
        from hpo.reporting.cost import cost_section

        out += ["", *cost_section(report["cost"], table)]
    if report["missing"]:
        out += ["", f"== Missing candidates ({len(report['missing'])}): partial result ==",
                table(["candidate", "why"], sorted(report["missing"].items()))]
    return "\n".join(out)


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def trust_lines(audit: dict[str, Any] | None) -> list[str]:
    """How far to trust the judge: its verdicts against the reference answers' verdicts."""
    agreement = (audit or {}).get("agreement") or {}
    scopes = [("all judged items", agreement.get("overall")),
              (f"deciding match ({agreement.get('final_stage')})", agreement.get("final")),
              ("winner vs baseline", agreement.get("baseline"))]
    rows = [[name, a["items"], _rate(a["agreement"]), a["decisive"], a["separated"],
             a["right_direction"], a["wrong_direction"], _rate(a["decisive_recall"])]
            for name, a in scopes if a]
    if not rows:
        return []
    return ["", "== How far to trust the judge (its verdicts vs the verdicts the reference answers "
                "imply: right beats wrong, both right or both wrong = tie) ==",
            table(["scope", "items", "agreement", "truth decisive", "judge separated", "right way",
                   "wrong way", "decisive recall"], rows)]


def bias_lines(report: dict[str, Any]) -> list[str]:
    """The judge's habits on this run's items (no reference needed)."""
    b = (report.get("judge_audit") or {}).get("bias")
    if not b or not b["items"]:
        return []
    lengths = b["mean_answer_length"]
    shown = [report["winner"]["candidate_id"], (report.get("baseline") or {}).get("candidate_id")]
    length = ", ".join(f"{c} {lengths[c]:.1f}" for c in shown if c in lengths)
    spread = f"; all {len(lengths)}: {min(lengths.values()):.1f}-{max(lengths.values()):.1f}" if lengths else ""
    return ["", f"== Judge biases ({b['items']} items, {b['single_verdicts']} single-order verdicts) ==",
            f"first-position win rate {_rate(b['first_position_win_rate'])} of decisive single-order"
            f" verdicts (0.50 = no position bias);"
            f" order conflicts {_rate(b['order_conflict_rate'])} (the verdict changes when the answers"
            f" swap places); ties {_rate(b['tie_rate'])} of items ({_rate(b['single_order_tie_rate'])}"
            f" of single-order verdicts)",
            f"longer answer won {_rate(b['longer_answer_win_rate'])} of {b['decisive_unequal_length']}"
            f" decisive items with unequal lengths; mean answer length (chars): {length}{spread}"]


def val_loss_lines(pick: dict[str, Any] | None, strategy: str = "") -> list[str]:
    """The lowest-validation-loss candidate beside the run's (the judge's) pick, with truth
    where it exists."""
    if not pick:
        return []
    sides = [("validation loss", pick["val_loss"]), (f"this run ({strategy})" if strategy else "judge", pick["judge"])]
    has_truth = any(p["exact_match"] is not None for _, p in sides)
    headers = ["selector", "candidate", "validation loss"] + (
        ["TRUTH exact match", "TRUTH rank", "regret"] if has_truth else [])
    rows = [[name, p["candidate_id"], "" if p["validation_loss"] is None else p["validation_loss"],
             *(["" if v is None else v for v in (p["exact_match"], p["true_rank"], p["regret"])]
               if has_truth else [])]
            for name, p in sides]
    verdict = "they agree" if pick["agree"] else "they differ"
    return ["", f"== Validation-loss pick beside the judge's pick ({verdict}) ==", table(headers, rows)]


def confidence_lines(conf: dict[str, Any] | None) -> list[str]:
    """The winner's 95% confidence set; says plainly when the winner is not clearly best."""
    if not conf:
        return []
    level = f"{conf['level']:.0%}"
    if len(conf["members"]) == 1:
        return [f"confidence: the winner is clearly best at {level} (bootstrap over validation items)"]
    others = [c for c in conf["members"] if c != conf["winner"]]
    return [f"NOT CLEARLY BEST: {len(others)} other candidate(s) are not distinguishable from the "
            f"winner at {level} (bootstrap over validation items, {conf['method']}):",
            table(["candidate", "scores >= winner in"],
                  [[c, f"{conf['not_worse_share'][c]:.0%} of resamples"] for c in others])]


def standings(report: Mapping[str, Any]) -> dict[str, str]:
    """How far each candidate got: the last stage it played and whether it won that match."""
    last: dict[str, str] = {}
    for m in report["matches"]:
        for cid in (m["a"], m["b"]):
            result = "won" if m["winner"] == cid else "lost"
            last[cid] = f"{m['stage'] or 'match'}: {result}{' (forfeit)' if m['forfeit'] else ''}"
    winner = report["winner"]["candidate_id"]
    if winner in last:
        last[winner] = f"winner ({last[winner].split(':')[0]})"
    return last


def ranking_section(report: dict[str, Any], top: int) -> list[str]:
    """The tournament's order with what it rests on; truth columns only where truth exists."""
    rows_by_id = {r["candidate_id"]: r for r in report["candidates"]}
    stand = standings(report)
    scored = {c: r["exact_match"] for c, r in rows_by_id.items() if "exact_match" in r}
    has_truth = bool(report.get("truth")) and bool(scored)
    headers = ["#", "candidate", "reached (stage: result)", "win rounds"]
    if has_truth:
        headers += ["TRUTH exact match", "TRUTH rank"]
    rows = []
    for i, cid in enumerate(report["ranking"][:top]):
        rounds = rows_by_id.get(cid, {}).get("win_rounds", 0)
        row = [i + 1, cid, stand.get(cid, "not played"), f"{rounds:g}"]
        if has_truth:
            em = scored.get(cid)
            row += ["" if em is None else em,
                    "" if em is None else 1 + sum(v > em for v in scored.values())]
        rows.append(row)
    note = (f"order: the '{report['strategy']}' strategy's ranking, winner first; 'reached' and"
            " 'win rounds' are what it rests on; candidates that went out in different matches of a"
            " stage were never compared with each other")
    if not report["matches"]:
        note = (f"order: the '{report['strategy']}' strategy's ranking, winner first; no matches were"
                " played (val_loss: lowest validation loss first, no judge calls)")
    if has_truth:
        note += ("; TRUTH columns: share of right answers on the validation set (exact match with"
                 " the reference; open-answer families: their checker)")
    return [f"== Tournament ranking (top {top}) ==", note, table(headers, rows)]


REPORT_KEYS = ("winner", "strategy", "judge", "policy", "matches", "judge_calls",
               "judge_calls_saved_by_early_decision", "missing", "candidates", "ranking")


def load_report(target: str, run_root: str = "runs") -> dict[str, Any]:
    """A finished run's report.json (by folder, file or run name), checked to be a JSON object
    with the keys `render` reads; anything else is a one-line ConfigError."""
    for cand in (Path(target), Path(run_root) / target):
        path = cand / "report.json" if cand.is_dir() else cand
        if path.is_file():
            return _parse_report(path)
    raise ConfigError(f"no report found for '{target}' (is the run finished?)")


def _parse_report(path: Path) -> dict[str, Any]:
    from hpo.config.schema import read_text

    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg}); truncated?") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object (got {type(data).__name__}), not an hpo report")
    missing = [k for k in REPORT_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{path}: not an hpo report this version reads (no {', '.join(missing[:3])})")
    return data
