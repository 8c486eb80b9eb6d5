"""Robustness campaign (issue 17, item 8): every hostile case of ``tests/hostile`` against spikeforge.

The promise under test: bad input gets a one-line error (the CLI prints exactly one line on
stderr starting ``spikeforge <command>: error:`` and exits non-zero; the API raises a
``SpikeforgeError`` subclass), nothing partial is written, nothing of the user's is ever
destroyed, no hang, no silent wrong answer.

Every case runs in a folder of its own: a CLI case as a subprocess, an API case in a worker
subprocess (restarted after a hang or crash), each under a timeout (60 s; 30 s for size cases,
which must be refused fast) and an 8 GiB address-space limit. Outcomes (see
``tests/hostile/runner.py``): clean, traceback, silently wrong, data lost, hung, left behind.

Writes ``bench/results/robustness.json`` (machine, versions, date, the source tree tested,
every case's command and outcome, the table by input class) and ``bench/results/robustness.md``
(the table and the failing cases). A partial run (``--only``, ``--quick``, ``--case``) writes
``robustness-partial.*`` unless ``--out`` says otherwise.

Usage::

    python -m bench.robustness --jobs 2                  # the whole campaign
    python -m bench.robustness --quick                   # the fast subset
    python -m bench.robustness --only sdf3,output        # some input classes
    python -m bench.robustness --case 'model/pickled*' --keep /tmp/cases   # re-run cases, keep folders
    python -m bench.robustness --ref HEAD --jobs 2       # test a commit, not the working tree
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from bench.common import RESULTS, ROOT, machine, write_results

sys.path.insert(0, str(ROOT / "tests"))

from hostile.base import BaseBuildError, build_base  # noqa: E402
from hostile.generators import GENERATORS, all_cases  # noqa: E402
from hostile.runner import (  # noqa: E402
    DEFAULT_TIMEOUT,
    FAST_TIMEOUT,
    OUTCOMES,
    ApiWorker,
    Tally,
    run_case,
    subprocess_env,
)

FAILING = ("data lost", "hung", "silently wrong", "traceback", "left behind")


def source_info(src: str | None, ref: tuple[str, str] | None = None) -> dict:
    """Which spikeforge was tested: its folder and commit (``ref``: a ``git archive`` of that commit),
    else the repository's commit and its modified files under src/ (when the working tree was tested)."""
    env = subprocess_env(src)
    probe = subprocess.run([sys.executable, "-c", "import spikeforge, os; print(os.path.dirname(spikeforge.__file__))"],
                           env=env, capture_output=True, text=True)
    folder = probe.stdout.strip() or f"(not importable: {probe.stderr.strip()[-300:]})"
    info = {"spikeforge_package": folder, "src_option": src}
    if ref:
        ref, commit = ref  # the commit was resolved when the archive was taken
        return {**info, "git_ref": ref, "repository_head": commit, "src_modified_files": 0,
                "note": f"git archive of {ref} ({commit[:10]})"}
    if src:
        return {**info, "note": "a source tree given with --src (commit unknown)"}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        info.update(repository_head=head, src_modified_files=len(dirty.splitlines()) if dirty else 0)
    except OSError:
        pass
    return info


def cause(record: dict) -> str:
    """A key that groups failing cases by what went wrong (exception and place, kind of refusal, ...)."""
    outcome, detail = record.get("outcome", ""), record.get("detail", "")
    verb = (record.get("command", "").split() + ["", ""])[1] if record.get("kind") == "cli" else "API"
    if outcome == "traceback":
        if "usage:" in detail:
            return "traceback: argparse prints its usage and an error (2+ stderr lines)"
        if "lines on stderr" in detail:
            return "traceback: warnings or extra lines on stderr besides the error"
        if detail.startswith("killed by signal"):
            return f"traceback: {detail.split(';')[0]}"
        if detail.startswith("the worker process died"):
            return "traceback: the process died"
        exc = detail.split(":")[0].split(".")[-1].strip()
        where = re.search(r"\[at (spikeforge/[^\],:]+)(?:, line |:)(\d+),? (?:in )?(\w+)", detail)
        place = f" in {where.group(1)} {where.group(3) or ''}".rstrip() if where else ""
        return f"traceback: {exc}{place}"
    if outcome == "hung":
        return f"hung: {verb}" + (" (size case: must be refused fast)" if record.get("seconds", 99) < 45 else "")
    if outcome == "silently wrong":
        if "pickled code ran" in detail:
            return "silently wrong: pickled code ran"
        if "valid request refused" in detail:
            return "silently wrong: a valid request refused"
        if "wrong result" in detail:
            return f"silently wrong: wrong result ({record['class']})"
        return f"silently wrong: accepted ({record['class']}: {record['name'].split('/')[0]})"
    if outcome == "data lost":
        return f"data lost: {record['name'].split('/')[0]}"
    if outcome == "left behind":
        kind = "hidden temporaries" if "hidden leftover" in detail else "output written despite the error"
        return f"left behind: {kind}"
    return outcome


def markdown(doc: dict) -> str:
    rows = doc["table"]
    cols = ("tried",) + OUTCOMES
    only = doc["options"].get("only") or []
    lines = ["# Robustness campaign (issue 17): hostile inputs" + (f", input classes {', '.join(only)}" if only else ""),
             "",
             f"{doc['cases_total']} cases ({doc['cli_cases']} CLI subprocesses, {doc['api_cases']} API calls in a "
             f"worker subprocess), {doc['wall_seconds'] / 60:.1f} min with {doc['options']['jobs']} job(s) on "
             f"{doc['machine']['cpu'] or 'this machine'}; {doc['machine']['date']}. "
             "Tested: " + (doc["source"].get("note") or f"the working tree (HEAD "
                           f"{str(doc['source'].get('repository_head', ''))[:10]} and "
                           f"{doc['source'].get('src_modified_files', '?')} modified files under src/)") + (f"; valid inputs built by {doc['base_built_by']}" if doc["options"]["base_src"]
                                               else "") + ".", "",
             "A case is **clean** when bad input got a one-line error (CLI: exactly one stderr line "
             "`spikeforge CMD: error: ...`, exit ≠ 0; API: a `SpikeforgeError` subclass) or valid input a correct "
             "result. Otherwise, first that applies: **data lost** (a user file or folder changed or gone), **hung** "
             f"(no answer in {doc['options']['timeout']:.0f} s, {doc['options']['fast_timeout']:.0f} s for size "
             "cases), **silently wrong** (no error where one is required, a wrong result, a valid request refused, "
             "pickled code run), **traceback** (a traceback or more than one stderr line, a signal, a non-"
             "SpikeforgeError from the API), **left behind** (hidden temporaries, or output written despite an "
             "error).", "",
             "| input class | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for cls, row in rows.items():
        lines.append(f"| {cls} | " + " | ".join(str(row[c]) for c in cols) + " |")
    total = doc["total"]
    lines.append("| **all** | " + " | ".join(f"**{total[c]}**" for c in cols) + " |")
    if doc.get("skipped") or doc.get("setup_failed"):
        lines += ["", f"Skipped: {len(doc.get('skipped', []))} ({'; '.join(sorted({s['detail'] for s in doc.get('skipped', [])}))}). "
                  f"Setup failures (generator bugs, not counted): {len(doc.get('setup_failed', []))}."]
    failing = [c for c in doc["cases"] if c.get("outcome") in FAILING]
    groups: dict[str, list[dict]] = {}
    for c in failing:
        groups.setdefault(cause(c), []).append(c)
    lines += ["", "## Failing cases by cause", "",
              "| cause | cases | example (id — command — first line) |", "|---|---:|---|"]
    for key, members in sorted(groups.items(), key=lambda kv: (FAILING.index(kv[1][0]["outcome"]), -len(kv[1]))):
        ex = members[0]
        text = f"`{ex['id']}` — `{ex.get('command', '')[:160]}` — {ex.get('detail', '')[:200]}"
        lines.append(f"| {key} | {len(members)} | " + text.replace("|", "\\|").replace("\n", " ") + " |")
    lines += ["", "## Failing cases", "",
              "Re-run one with `python -m bench.robustness --case 'ID' --keep /tmp/cases` (its folder is kept; "
              "commands run from it).", ""]
    for outcome in FAILING:
        cases = [c for c in doc["cases"] if c.get("outcome") == outcome]
        if not cases:
            continue
        lines += [f"### {outcome} ({len(cases)})", ""]
        for c in cases:
            detail = c.get("detail", "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"- `{c['id']}` — `{c.get('command', '')[:300]}` — {detail[:400]}")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.robustness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="cases run in parallel (default 1)")
    parser.add_argument("--only", action="append", default=[], metavar="CLASS",
                        help=f"input classes to run ({', '.join(GENERATORS)}); repeat or comma-separate")
    parser.add_argument("--quick", action="store_true", help="only the fast subset")
    parser.add_argument("--case", action="append", default=[], metavar="GLOB",
                        help="only cases whose id matches (fnmatch, e.g. 'sdf3/rate-*')")
    parser.add_argument("--src", help="source tree to test (put first on PYTHONPATH)")
    parser.add_argument("--ref", help="test this commit of the repository (a git archive of its src/), e.g. HEAD: "
                        "the working tree may hold others' unfinished edits")
    parser.add_argument("--base-src", help="source tree that builds the valid inputs (default: the one under test); "
                        "for a tree that cannot compile them itself")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--fast-timeout", type=float, default=FAST_TIMEOUT)
    parser.add_argument("--keep", help="keep every case folder under this folder")
    parser.add_argument("--out", help="results name (default robustness, or robustness-partial for a partial run)")
    parser.add_argument("--list", action="store_true", help="list the selected case ids and exit")
    args = parser.parse_args(argv)

    classes = [c for item in args.only for c in item.split(",") if c]
    unknown = [c for c in classes if c not in GENERATORS]
    if unknown:
        parser.error(f"unknown input class {', '.join(unknown)}; known: {', '.join(GENERATORS)}")
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    for flag, value in (("--src", args.src), ("--base-src", args.base_src)):
        if value and not Path(value, "spikeforge").is_dir():
            parser.error(f"{flag} {value}: no spikeforge package in it")
    cases = all_cases(classes or None)
    if args.quick:
        cases = [c for c in cases if c.quick]
    if args.case:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, g) for g in args.case)]
    if args.list:
        print("\n".join(c.id for c in cases))
        return 0
    if not cases:
        parser.error("no case selected")
    partial = bool(classes or args.quick or args.case)
    ref_tree = None
    if args.ref:
        if args.src:
            parser.error("--ref and --src exclude each other")
        commit = subprocess.run(["git", "rev-parse", "--verify", f"{args.ref}^{{commit}}"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        if not commit:
            parser.error(f"--ref {args.ref}: not a commit of this repository")
        tree = ref_tree = Path(tempfile.mkdtemp(prefix="spikeforge-ref-"))
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            parser.error(f"--ref {args.ref}: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        args.src = str(tree / "src")
    name = args.out or ("robustness-partial" if partial else "robustness")

    source = source_info(args.src, (args.ref, commit) if args.ref else None)  # before the archive is removed
    if args.src:
        sys.path.insert(0, str(Path(args.src).resolve()))  # base.preset_text reads the presets under test
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="spikeforge-hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    env = subprocess_env(args.src, cache=str(root / "_cache"))
    base_env = subprocess_env(args.base_src, cache=str(root / "_cache")) if args.base_src else env
    start = time.monotonic()
    print(f"building the valid inputs in {root / '_base'} ...", file=sys.stderr)
    try:
        base = build_base(root / "_base", base_env, timeout=300)
    except BaseBuildError as exc:
        print(f"robustness: the spikeforge under test cannot build the valid inputs: {exc}", file=sys.stderr)
        for folder in ([] if args.keep else [root]) + ([ref_tree] if ref_tree else []):
            shutil.rmtree(folder, ignore_errors=True)
        return 2
    cases_root = root / "cases"
    cases_root.mkdir(exist_ok=True)
    local = threading.local()
    workers: list[ApiWorker] = []
    lock = threading.Lock()

    def worker() -> ApiWorker:
        if not hasattr(local, "worker"):
            local.worker = ApiWorker(base, env, log=root / "_worker.log")
            with lock:
                workers.append(local.worker)
        return local.worker

    def one(case):
        return run_case(case, base, cases_root, env=env, worker=worker(), timeout=args.timeout,
                        fast_timeout=args.fast_timeout, keep=bool(args.keep))

    records = []
    tally = Tally()
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(one, c): c for c in cases}
            for n, future in enumerate(as_completed(futures), 1):
                case = futures[future]
                try:
                    rec = future.result()
                except Exception as exc:  # the campaign's own failure on one case: record it, go on
                    rec = {"id": case.id, "class": case.cls, "name": case.name,
                           "outcome": "setup failed", "detail": f"runner: {type(exc).__name__}: {exc}"}
                records.append(rec)
                tally.add(rec["class"], rec["outcome"])
                print(f"[{n}/{len(cases)}] {rec['outcome']:<14} {rec['id']} ({rec.get('seconds', 0):.1f} s)"
                      + (f"  {rec.get('detail', '')[:150]}" if rec["outcome"] not in ("clean",) else ""),
                      file=sys.stderr, flush=True)
    finally:
        for w in workers:
            w.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        if ref_tree is not None:
            shutil.rmtree(ref_tree, ignore_errors=True)
    wall = time.monotonic() - start

    order = {c.id: i for i, c in enumerate(cases)}
    records.sort(key=lambda r: order.get(r["id"], 0))
    table = {cls: tally.rows[cls] for cls in GENERATORS if cls in tally.rows}
    doc = {
        "options": {"jobs": args.jobs, "only": classes, "quick": args.quick, "case": args.case, "src": args.src,
                    "base_src": args.base_src,
                    "timeout": args.timeout, "fast_timeout": args.fast_timeout},
        "source": source,
        "base_built_by": source_info(args.base_src)["spikeforge_package"] if args.base_src else "the tree under test",
        "wall_seconds": round(wall, 1),
        "cases_total": len(records),
        "cli_cases": sum(1 for r in records if r.get("kind") == "cli"),
        "api_cases": sum(1 for r in records if r.get("kind") == "api"),
        "table": table,
        "total": tally.total(),
        "skipped": [{"id": r["id"], "detail": r.get("detail", "")} for r in records if r["outcome"] == "skipped"],
        "setup_failed": [{"id": r["id"], "detail": r.get("detail", "")} for r in records
                         if r["outcome"] == "setup failed"],
        "cases": records,
    }
    doc["machine"] = machine()
    path = write_results(name, doc)
    md = RESULTS / f"{name}.md"
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text(markdown(doc))
    os.replace(tmp, md)
    print(f"wrote {path} and {md}", file=sys.stderr)
    print(markdown(doc).split("## Failing cases")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
