"""Paper-protocol benchmark runs: agents through whole sessions, tables beside the paper's reported numbers, plots.

    python -m benchmarks.run                                   # scripted agents, built-in ProductQA test split
    python -m benchmarks.run --env agile/ProductQA-v2 --data-dir /path/to/agile-data --split test \\
        --agent always-advice --agent never-advice --agent oracle --output-dir results/
    python -m benchmarks.run --env agile/MedMCQA-v2 --data-files dev.jsonl --agent hf:Qwen/Qwen2.5-0.5B-Instruct \\
        --advice-cost 0.4
    python -m benchmarks.run --agent hf:./runs/ppo --ablate memory --ablate reflection
    python -m benchmarks.run --agent openai:gpt-4o --base-url http://localhost:8000/v1
    python -m benchmarks.run --advice-cost 0.1 0.3 0.5 0.7     # sweep: the trade-off plot

Protocol (the paper's): each test category is one session (memory starts empty and persists through it),
advice cost = the env's default (0.3 ProductQA, 0.4 MedMCQA, as in the paper) unless given. Every finished
session is saved under <output-dir>/sessions/ with a fingerprint of what its agent is (code, weights, adapters),
of the agile_gym code and of its data files (benchmarks.provenance); rerunning skips the sessions whose
fingerprint still matches, so a crashed or interrupted run resumes from the last finished session, and a
changed model, agent or data set is run again (--fresh starts over). Every argument (env, categories, agents,
data folders, JSON) is checked before the first session: a wrong one exits with status 2. Writes results.md,
results.json (rows, per-session traces, config, package versions, the paper's reported table) and two PNGs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import gymnasium as gym

import agile_gym  # noqa: F401  (registers the agile/ ids)
from agile_gym.results import plot_tradeoff
from agile_gym.rewards import check_advice_cost
from benchmarks.agents import AgentOptions, check_agent, make_agent, release
from benchmarks.checks import check_env_id
from benchmarks.plots import plot_session_curves
from benchmarks.provenance import DataFacts, agent_fingerprint, data_facts, env_code_digest
from benchmarks.report import build_report, headline_rows, render_markdown, series_label, write_report
from benchmarks.sessions import FULL, SessionSpec, SessionStore, ablation_kwargs, play_sessions

DEFAULT_AGENTS = ["always-advice", "never-advice", "expert"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m benchmarks.run`; its help shows the module docstring's examples."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    env = parser.add_argument_group("environment")
    env.add_argument("--env", default="agile/ProductQA-v2", help="registered env id (default: %(default)s)")
    env.add_argument("--data-dir", help="ProductQA release root (holds productqa/ or {train,test}/); default: "
                     "$AGILE_DATA_DIR, else the built-in data")
    env.add_argument("--data-files", nargs="+", help="MedMCQA JSON-lines file(s) of questions")
    env.add_argument("--split", help="data split (ProductQA: test or train; default: the env's)")
    env.add_argument("--category", action="append", help="only these categories (repeatable; default: all)")
    env.add_argument("--max-questions", type=int, help="cap each session at this many questions (a quick look)")
    env.add_argument("--env-kwargs", default="{}", help="more env keyword arguments as a JSON object")
    run = parser.add_argument_group("what to run")
    run.add_argument("--agent", action="append", help=f"repeatable; default: {' '.join(DEFAULT_AGENTS)}. Scripted "
                     "(always-advice, never-advice, oracle, expert), hf:<model|adapter|run folder>, openai:<model>, "
                     "or <module>:<Class>")
    run.add_argument("--advice-cost", type=float, nargs="+", help="one or more costs c (a sweep); default: the env's")
    run.add_argument("--ablate", action="append", default=[], help="also run with a capability off: memory, "
                     "reflection, advice, tools (repeatable; 'memory+reflection' switches both off in one row)")
    run.add_argument("--output-dir", default="results/benchmark", help="default: %(default)s")
    run.add_argument("--batch-size", type=int, default=16, help="sessions played side by side per agent "
                     "(model agents batch their prompts across them; default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="env reset seed (default: %(default)s)")
    run.add_argument("--fresh", action="store_true", help="ignore saved sessions and start over")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    models = parser.add_argument_group("model agents (hf: and openai:)")
    defaults = AgentOptions()
    for name, help_text in (("max_new_tokens", "longest action"), ("max_prompt_tokens", "hf: longest prompt"),
                            ("chat_template", "hf: auto, on or off"), ("temperature", "0 = greedy"),
                            ("device", "hf: auto, cpu, cuda"), ("base_url", ("openai: endpoint, e.g. "
                            "http://localhost:8000/v1")), ("api_key_env", "openai: env var holding the key"),
                            ("request_timeout_s", "openai: seconds per request"),
                            ("retries", "openai: retries of a failed request"),
                            ("concurrency", "openai: requests in flight")):
        default = getattr(defaults, name)
        models.add_argument("--" + name.replace("_", "-"), default=default,
                            type=type(default) if default is not None else str,
                            help=f"{help_text} (default: %(default)s)")
    return parser


def base_env_kwargs(args: argparse.Namespace) -> dict:
    """Env keyword arguments shared by every session: `--env-kwargs` (a JSON object) with `--data-dir`,
    `--data-files`, `--split` and `--max-questions` on top where given. Raises ValueError when `--env-kwargs`
    is not a JSON object."""
    try:
        kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        raise ValueError(f"--env-kwargs is not JSON: {error}") from None
    if not isinstance(kwargs, dict):
        raise ValueError("--env-kwargs must be a JSON object")  # noqa: TRY004 (main reports ValueError as a usage error)
    for key, value in (("data_dir", args.data_dir), ("data_files", args.data_files), ("split", args.split),
                       ("max_questions", args.max_questions)):
        if value is not None:
            kwargs[key] = value
    return kwargs


def probe(env_id: str, kwargs: dict) -> tuple[DataFacts, float]:
    """The data the env serves (`DataFacts`: folder, split, categories, hashes) and its default advice cost,
    from one construction."""
    try:
        env = gym.make(env_id, **kwargs)
    except TypeError as error:
        raise ValueError(f"{env_id} does not take these arguments: {error}") from None
    try:
        return data_facts(env, kwargs), float(env.unwrapped.advice_cost)
    finally:
        env.close()


def _categories(args: argparse.Namespace, kwargs: dict, facts: DataFacts) -> list[tuple[str, dict]]:
    """(label, extra env kwargs) per session of one agent, cost and ablation; ValueError for an unknown
    `--category`."""
    names = [name for name in facts.categories if name != "all"]
    if args.category:
        if not names:
            raise ValueError(f"--category: {args.env} has no categories (one session over all its questions)")
        unknown = [name for name in args.category if name not in facts.categories]
        if unknown:
            raise ValueError(f"--category {unknown[0]}: not a category of split {facts.split!r} of {facts.folder}; "
                             f"choose from {', '.join(names)}")
        return [(name, {"category": name}) for name in dict.fromkeys(args.category)]
    if "category" in kwargs or len(names) <= 1:
        return [("all", {})]
    return [(name, {"category": name}) for name in names]


def agent_fingerprints(agents: list[str], options: AgentOptions) -> dict[str, dict]:
    """Check every agent spec before anything runs (ValueError with one line for a bad one) and return what
    each is now (`benchmarks.provenance.agent_fingerprint`)."""
    fingerprints = {}
    for agent in agents:
        check_agent(agent, options)
        fingerprints[agent] = agent_fingerprint(agent, options)
    return fingerprints


def plan(args: argparse.Namespace, agents: list[str], options: AgentOptions) -> tuple[list[SessionSpec], DataFacts]:
    """Every session to play (agent x advice cost x ablation x category, one session per category), and the data
    they read. Every argument is checked here, before any session: ValueError (or the env's error) otherwise."""
    kwargs = base_env_kwargs(args)
    check_env_id(args.env)
    ablations = [FULL] + [a for a in dict.fromkeys(args.ablate) if a != FULL]
    for ablation in ablations:
        ablation_kwargs(ablation)
    facts, default_cost = probe(args.env, kwargs)
    categories = _categories(args, kwargs, facts)
    if args.category:  # the report names the categories played, not every one of the data
        facts = replace(facts, categories={name: facts.categories[name] for name in dict.fromkeys(args.category)})
    costs = args.advice_cost or [default_cost]
    for cost in costs:
        check_advice_cost(cost)
    agents_now = agent_fingerprints(agents, options)
    agent_options = {
        k: v for k, v in asdict(options).items() if k not in ("env", "env_kwargs", "device", "concurrency")
    }
    env_code = env_code_digest()
    return [SessionSpec(agent=agent, advice_cost=float(cost), ablation=ablation, category=label, env=args.env,
                        env_kwargs={**kwargs, **extra, "advice_cost": float(cost), **ablation_kwargs(ablation)},
                        agent_options=agent_options if ":" in agent else {}, seed=args.seed,
                        fingerprint={"agent": agents_now[agent], "env_code": env_code,
                                     "data": facts.data_digest(label)})
            for agent in agents for cost in costs for ablation in ablations for label, extra in categories], facts


def _rekey(specs: list[SessionSpec], agent_now: dict) -> list[SessionSpec]:
    return [replace(spec, fingerprint={**spec.fingerprint, "agent": agent_now}) for spec in specs]


def run(args: argparse.Namespace) -> int:
    """Play every planned session (reusing saved ones unless `--fresh`), write results.md, results.json and
    the two PNGs into `--output-dir`, and print the markdown table. Returns the exit status: 0 when every
    session finished, 1 when some failed (failed sessions are retried on the next run), 130 on Ctrl-C (the
    report so far is written). A bad spec or argument raises ValueError, FileNotFoundError or gymnasium's
    error before any session runs."""
    agents = list(dict.fromkeys(args.agent or DEFAULT_AGENTS))
    options = AgentOptions(**{f.name: getattr(args, f.name) for f in fields(AgentOptions)
                              if f.name not in ("env", "env_kwargs")}, env=args.env)
    options.env_kwargs = {k: v for k, v in base_env_kwargs(args).items() if k != "max_questions"}
    specs, facts = plan(args, agents, options)
    output = Path(args.output_dir)
    store = SessionStore(output)
    config = {key: value for key, value in vars(args).items()}
    config["agents"] = agents
    config["data"] = asdict(facts)
    sessions, failures, described = [], [], {}
    try:
        for agent in agents:
            mine = [spec for spec in specs if spec.agent == agent]
            saved = [] if args.fresh else [store.load(spec) for spec in mine]
            done = [s for s in saved if s is not None]
            todo = [spec for spec, s in zip(mine, saved or [None] * len(mine)) if s is None]
            sessions += done
            if done:
                print(f"{agent}: {len(done)} finished session(s) reused from {store.root}", file=sys.stderr)
            if not todo:
                continue
            try:
                pool = make_agent(agent, options)
            except ValueError:
                raise  # a wrong spec or a missing package: say so now
            except Exception as error:  # noqa: BLE001 (a model that fails to load fails its sessions, not the run)
                failures += [{"spec": json.loads(json.dumps(asdict(spec))), "agent_did_not_start": True,
                              "error": f"agent could not start: {type(error).__name__}: {error}"} for spec in todo]
                continue
            described[agent] = pool.description
            now = agent_fingerprint(agent, options)  # a hub model is identified once downloaded
            if now != todo[0].fingerprint["agent"]:
                todo = _rekey(todo, now)
            try:
                finished, failed = play_sessions(pool, todo, store, args.batch_size, progress=not args.quiet)
            finally:
                release(pool)
            sessions += finished
            failures += failed
    except KeyboardInterrupt:
        report = build_report(config, sessions, failures, described)
        write_report(output, report)
        print(f"interrupted: finished sessions are saved in {store.root}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    report = build_report(config, sessions, failures, described)
    json_path, md_path = write_report(output, report)
    print(render_markdown(report))
    written = [md_path, json_path]
    if sessions:
        written += [plot_session_curves(sessions, output / "session_curve.png"),
                    plot_tradeoff(headline_rows(report["rows"]), output / "tradeoff.png", series_label)]
    else:
        print("no session finished: no plots drawn", file=sys.stderr)
    print(f"wrote {', '.join(str(path) for path in written)}", file=sys.stderr)
    did_not_start = sorted({f["spec"]["agent"] for f in failures if f.get("agent_did_not_start")})
    for agent in did_not_start:
        error = next(f["error"] for f in failures if f["spec"]["agent"] == agent)
        print(f"{agent}: {error}; fix the agent, then rerun (finished sessions are kept)", file=sys.stderr)
    retried = [f for f in failures if not f.get("agent_did_not_start")]
    if retried:
        print(f"{len(retried)} session(s) failed; rerun the same command to retry them (finished ones are kept)",
              file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: parse `argv` (None: sys.argv) and `run`; returns its exit status, or 2 after
    printing a usage error (ValueError, FileNotFoundError, gymnasium error) to stderr."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError, gym.error.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
