"""Command line: `python -m toolkit {tour,ask,ingest,info,eval-retrieval,review,regress,serve,report}`.

    python -m toolkit tour                       run the notebooks headless; HTML + scorecard in report/
    python -m toolkit ask "How long do I have to return an item?" [--index DIR | --pipeline FILE] [--json]
    python -m toolkit ingest PATH [--index DIR] [--store postgresql://...] [--json]
    python -m toolkit info                       environment check: models, versions, settings
    python -m toolkit eval-retrieval --beir DIR [--split test] --retriever {bm25,dense,hybrid} [--k 10] [--json]
    python -m toolkit review list|show ID|decide ID (--approve|--edit TEXT|--reject) --reviewer NAME [--force]
                                                 the review queue (default <home>/review/queue.sqlite)
    python -m toolkit regress --pipeline FILE --baseline FILE [--questions FILE --update-baseline] [--replay FILE]
    python -m toolkit regress init DIR --corpus PATH --questions FILE.jsonl   |   regress check DIR
    python -m toolkit serve --pipeline FILE [--host 127.0.0.1] [--port 8000] [--token T]   POST /ask /feedback, GET /metrics
    python -m toolkit report [--pipeline FILE | --store FILE] [--out report/dashboard.html]   the HTML dashboard

Exit status: 0 on success, 1 when the work ran but failed (a checkpoint, an empty ingest),
2 for a usage or configuration error; `regress` exits 3 when requests missed its replay recording. Progress goes to standard error, results to standard out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _quiet() -> None:
    # Offline by default, and no download or weight-loading progress bars on the terminal.
    for name, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }.items():
        os.environ.setdefault(name, value)


def _settings(args):
    from .config import load_settings

    return load_settings(
        llm=getattr(args, "llm", None),
        top_k=getattr(args, "top_k", None),
        max_file_mb=getattr(args, "max_file_mb", None),
    )


def cmd_ask(args) -> int:
    from .pipeline import Pipeline

    settings = _settings(args)
    if args.pipeline:
        if args.index:
            from .errors import ConfigError

            raise ConfigError("give --pipeline or --index, not both: the pipeline file names its own corpus and index")
        from .routing import build

        pipeline = build(args.pipeline, settings=settings, show_progress=not args.json)
    elif args.index:
        pipeline = Pipeline.open(args.index, settings=settings)
    else:
        pipeline = Pipeline.bundled(settings=settings, show_progress=not args.json)
    pipeline.origin = "cli"
    answer = pipeline.ask(args.question)
    print(json.dumps(answer.to_dict(), indent=2) if args.json else answer)
    return 0


def cmd_ingest(args) -> int:
    from .errors import IngestError
    from .ingestion import ingest

    settings = _settings(args)
    try:
        _, report = ingest(args.path, args.index, settings=settings, show_progress=True, store=args.store)
    except IngestError as exc:
        report = getattr(exc, "report", None)
        if report is None:  # nothing was read (PATH is not a folder): a usage error, exit 2
            raise
        print(report.to_json() if args.json else report)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.to_json() if args.json else f"{report}\nindex: {report.index}")
    return 0


def cmd_tour(args) -> int:
    from .notebook import format_scorecard, run_tour

    scores = run_tour(
        args.notebooks, args.report, only=args.only, echo=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print(format_scorecard(scores))
    scoreboard = Path(args.notebooks) / "pipelines" / "scoreboard.csv"
    if scoreboard.is_file():
        from .evaluation import Scoreboard

        print("\nscoreboard (each notebook's pipeline on its evaluation sample):")
        print(Scoreboard.show(Scoreboard(scoreboard).table()))
    print(f"report: {os.path.join(args.report, 'index.html')}")
    return 0 if all(s.passed for s in scores) else 1


def cmd_eval_retrieval(args) -> int:
    from .evaluation import evaluate_beir

    result = evaluate_beir(
        args.beir, args.retriever, split=args.split, k=args.k, settings=_settings(args), show_progress=True
    )
    print(json.dumps(result.to_dict()) if args.json else result)
    return 0


def cmd_regress(args) -> int:
    from .evaluation.suite import cli

    return cli(args)


def cmd_serve(args) -> int:
    from .monitoring import serve
    from .monitoring.server import check_bind
    from .pipeline import Pipeline

    token = args.token or os.environ.get("TOOLKIT_SERVE_TOKEN") or None
    check_bind(args.host, token)  # before the models load: a refusal should be quick
    pipeline = Pipeline.from_config(args.pipeline, settings=_settings(args), show_progress=True)
    print(
        f"serving {args.pipeline} on http://{args.host}:{args.port} (POST /ask, POST /feedback, GET /metrics)",
        file=sys.stderr,
    )
    serve(pipeline, args.host, args.port, token=token)
    return 0


def cmd_report(args) -> int:
    from .config import load_settings
    from .errors import ConfigError
    from .monitoring import write_dashboard
    from .pipeline_config import PipelineConfig
    from .storage import is_database_url
    from .tracking import run_store

    settings = load_settings()
    if args.store:
        where = args.store
    elif args.pipeline:
        config = PipelineConfig.load(args.pipeline)
        if config.store is None:
            raise ConfigError(f"{args.pipeline} names no run store (store: FILE); give --store FILE")
        where = config.store if is_database_url(config.store) else settings.home / config.store
    else:
        where = settings.home / "runs.sqlite"
    if not is_database_url(where) and not Path(where).is_file():
        raise ConfigError(f"no run store at {where}; run some questions first (ask --pipeline, serve), or give --store")
    out = write_dashboard(run_store(where), args.out, scoreboard=args.scoreboard, projected=args.projected)
    print(f"dashboard: {out}")
    return 0


def cmd_info(args) -> int:
    from importlib import metadata

    from . import __version__
    from .config import load_settings
    from .models import embedded_embed_path, embedded_llm_path

    settings = load_settings()
    llm_path, embed_path = embedded_llm_path(), embedded_embed_path()
    versions = {}
    for package in ["llama-index-core", "llama-cpp-python", "faiss-cpu", "sentence-transformers", "torch"]:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    info = {
        "toolkit": __version__,
        "python": sys.version.split()[0],
        "home": str(settings.home),
        "llm": settings.llm,
        "embed": settings.embed,
        "embedded_llm": {
            "path": str(llm_path),
            "present": llm_path.is_file(),
            "mb": round(llm_path.stat().st_size / 1e6, 1) if llm_path.is_file() else None,
        },
        "embedded_embedding": {"path": str(embed_path), "present": (embed_path / "modules.json").is_file()},
        # Whether a key is set, never its value.
        "keys": {k: bool(os.environ.get(k)) for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")},
        "packages": versions,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>20}: {value}")
    return 0


def cmd_review(args) -> int:
    from dataclasses import asdict

    from .errors import ReviewQueueError
    from .storage import is_database_url
    from .validation.review import default_queue_path
    from .validation.review_postgres import review_queue

    path = args.queue or default_queue_path(_settings(args))  # a file, or a postgresql:// URL
    if not is_database_url(path) and not Path(path).is_file():  # reading must not create a queue
        if args.action == "list":
            print(json.dumps({"queue": str(path), "total": 0, "items": []}) if args.json else f"{path}: no items yet")
            return 0
        raise ReviewQueueError(f"no review queue at {path}: nothing was escalated yet, or give --queue PATH")
    queue = review_queue(path)
    if args.action == "list":
        items = queue.page(args.state, limit=args.limit, offset=args.offset)
        total = queue.count(args.state)
        if args.json:
            print(
                json.dumps(
                    {
                        "queue": str(path),
                        "state": args.state,
                        "total": total,
                        "offset": args.offset,
                        "items": [asdict(i) for i in items],
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(
                f"{total} {args.state} in {path} (showing {args.offset + 1 if items else 0}-{args.offset + len(items)})"
            )
            for i in items:
                print(f"{i.id}  {i.state:<8}  {i.priority:5.2f}  {i.question[:60]!r} -> {i.answer[:40]!r}")
        return 0
    if args.action == "decide":
        decision = "approved" if args.approve else "rejected" if args.reject else "edited"
        queue.decide(args.id, decision, reviewer=args.reviewer, answer=args.edit, force=args.force)
    item = queue.get(args.id)
    if args.json:
        print(json.dumps(asdict(item) | {"history": queue.history(item.id)}, ensure_ascii=False))
        return 0
    print(
        f"{item.id}  {item.state}  priority {item.priority:.2f}  run {item.run_id or '-'}  "
        f"pipeline {item.pipeline_version or '-'}  created {item.created}"
    )
    print(f"question: {item.question}\ndraft answer: {item.answer}")
    for label, value in [
        ("reasons", "; ".join(item.reasons)),
        ("signals", " ".join(f"{k}={v:g}" for k, v in item.signals.items())),
        ("validator", f"{item.validator} {item.rule}".strip()),
    ]:
        if value:
            print(f"{label}: {value}")
    for number, passage in enumerate(item.context, 1):
        print(f"  [{number}] {passage['source']}: {passage['text']}")
    for h in queue.history(item.id):
        print(
            f"decided: {h['decision']} by {h['reviewer']} at {h['decided']}"
            + (f": {h['answer']}" if h["answer"] else "")
            + (" (forced)" if h["forced"] else "")
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="answer a question from an index")
    p.add_argument("question")
    p.add_argument("--index", help="index folder written by `ingest` (default: the bundled corpus)")
    p.add_argument(
        "--pipeline",
        metavar="FILE",
        help="a pipeline configuration (YAML), e.g. "
        "notebooks/pipelines/07_cost_and_caching.yaml: the whole pipeline it describes answers",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--top-k", type=int, help="chunks to retrieve")
    p.add_argument("--llm", help="model spec, e.g. local, openai:gpt-4o-mini, ollama:llama3.2")
    p.set_defaults(run=cmd_ask)

    p = sub.add_parser("ingest", help="index a folder of .md .txt .html .pdf files")
    p.add_argument("path")
    p.add_argument("--index", help="index folder (default: <home>/indexes/<folder name>)")
    p.add_argument(
        "--store", metavar="URL", help="put the index in this postgresql:// database, named after the --index folder"
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--max-file-mb", type=float, help="skip files larger than this (default 10)")
    p.set_defaults(run=cmd_ingest)

    p = sub.add_parser("tour", help="run the notebooks headless and print a scorecard")
    p.add_argument("--notebooks", default="notebooks")
    p.add_argument("--report", default="report")
    p.add_argument("--only", nargs="*", help="notebook number prefixes to run, e.g. 00 01")
    p.set_defaults(run=cmd_tour)

    p = sub.add_parser("eval-retrieval", help="score a retriever on a BEIR-format data set")
    p.add_argument("--beir", required=True, metavar="DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/")
    p.add_argument("--split", default="test", help="qrels/<split>.tsv to score (default: test)")
    p.add_argument("--retriever", choices=["bm25", "dense", "hybrid"], default="bm25")
    p.add_argument("--k", type=int, default=10, help="cut-off for nDCG, MRR and hit rate (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_eval_retrieval)

    p = sub.add_parser("review", help="list, show and decide the answers waiting for review")
    actions = p.add_subparsers(dest="action", required=True)
    for name, helptext in [
        ("list", "one page of items"),
        ("show", "one item and its history"),
        ("decide", "approve, edit or reject one item"),
    ]:
        a = actions.add_parser(name, help=helptext)
        if name == "list":
            a.add_argument("--state", default="pending", choices=["pending", "approved", "edited", "rejected", "all"])
            a.add_argument("--limit", type=int, default=20)
            a.add_argument("--offset", type=int, default=0)
        else:
            a.add_argument("id", help="the item id, as `review list` shows it")
        if name == "decide":
            how = a.add_mutually_exclusive_group(required=True)
            how.add_argument("--approve", action="store_true", help="the draft answer stands")
            how.add_argument("--edit", metavar="TEXT", help="replace the draft with TEXT")
            how.add_argument("--reject", action="store_true", help="the draft is wrong")
            a.add_argument("--reviewer", required=True, metavar="NAME")
            a.add_argument("--force", action="store_true", help="change an item that was already decided")
        a.add_argument(
            "--queue",
            metavar="PATH",
            help="the queue file (default: <home>/review/queue.sqlite), or a postgresql:// URL",
        )
        a.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_review)

    p = sub.add_parser("regress", help="check a pipeline against its regression baseline (or init/check a suite)")
    p.add_argument("action", nargs="?", choices=["init", "check"], help="lay a suite out in DIR, or check it")
    p.add_argument("dir", nargs="?", metavar="DIR", help="the suite's folder (with init or check)")
    p.add_argument("--pipeline", metavar="FILE", help="the pipeline configuration to check")
    p.add_argument("--baseline", metavar="FILE", help="the baseline to compare with (or to write)")
    p.add_argument("--questions", metavar="FILE", help="questions (JSON lines, the evaluation set's format)")
    p.add_argument("--update-baseline", action="store_true", help="make this run the baseline")
    p.add_argument("--replay", metavar="FILE", help="answer from this recording of model responses")
    p.add_argument("--record", action="store_true", help="record the model's responses into --replay")
    p.add_argument("--allow-calls", action="store_true", help="let a paid model answer requests the recording misses")
    p.add_argument("--repeats", type=int, help="runs per question, for pass^k with a non-deterministic model")
    p.add_argument("--corpus", metavar="PATH", help="init: the folder of documents")
    p.add_argument("--llm", help="init: the suite's model (default: extractive)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(run=cmd_regress)
    p = sub.add_parser("serve", help="serve a pipeline over HTTP: POST /ask, POST /feedback, GET /metrics")
    p.add_argument("--pipeline", required=True, metavar="FILE", help="a pipeline configuration (YAML)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; others need a token)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", help="require Authorization: Bearer TOKEN (default: TOOLKIT_SERVE_TOKEN)")
    p.add_argument("--llm", help="model spec, e.g. local, extractive, openai:gpt-4o-mini")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("report", help="write the HTML dashboard from the run store")
    p.add_argument("--pipeline", metavar="FILE", help="read the run store this configuration names")
    p.add_argument(
        "--store", metavar="FILE", help="a run store file (default <home>/runs.sqlite), or a postgresql:// URL"
    )
    p.add_argument("--out", default="report/dashboard.html")
    p.add_argument("--scoreboard", default="notebooks/pipelines/scoreboard.csv")
    p.add_argument("--projected", action="store_true", help="cost as the ledger's hosted-model projection")
    p.set_defaults(run=cmd_report)

    p = sub.add_parser("info", help="check the environment and show the embedded defaults")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet()
    args = build_parser().parse_args(argv)
    from .errors import ToolkitError

    try:
        return args.run(args)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a provider, disk or library failure: one line, not a traceback
        if os.environ.get("TOOLKIT_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {exc}\n(set TOOLKIT_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
