"""Correct a whole HumanML3D-layout dataset: ``python -m physics_correct.batch SRC DST [options]``.

SRC is never modified. DST becomes a HumanML3D-layout folder: corrected features in ``new_joint_vecs/`` (the
input's length), joints recovered from them in ``new_joints/`` (only if SRC has that folder), the clips'
caption files, the split files and SRC's ``Mean.npy``/``Std.npy`` copied untouched (never recomputed).

Failed clips (unreadable, NaN, wrong shape, missing captions, too short, a correction that raises) are recorded
in the report with their error and left out of DST: no files, and their names dropped from DST's split files,
so that DST stays consistent for the dataset reader. DST's split files list the clips done so far; they are
rewritten at the end of every run.

Per clip, ``correction.jsonl`` gets one line (clip, input file, ok, error, falls, assist, mpjpe_mm, physics
metrics before/after, seconds); ``correction_summary.md`` holds the summary table of the last run.

Resume: every file is written atomically (temporary file, then rename) by the driver process only, and the
report line is appended after the clip's files are renamed into place. A clip is done when its report line
exists and, if it succeeded, its features file too; a rerun skips done clips (failed ones too, unless
``retry_failed``), drops a truncated last report line, never writes a clip twice and removes temporary files
left by a killed run. A kill between a rename and the report line only redoes that clip.

Workers: ``workers=1`` corrects in this process, ``workers=N`` in a pool of N spawned processes; ``ray_address``
("local", "auto" or "HOST:PORT") sends one Ray task per clip (retried when its worker or node dies). In every
case results are collected as they complete and written at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from motion_diffusion.data.humanml3d import SPLITS, read_captions, read_features, read_split, write_splits
from motion_diffusion.motion.features import features_to_joints
from motion_diffusion.motion.files import (
    atomic_open,
    exclusive_folder,
    remove_stale_temporaries,
    save_npy,
    write_text,
)
from motion_diffusion.motion.skeleton import FPS

from .controller import ControllerConfig
from .correct import correct, spawn_pool

FEATURES_DIR = "new_joint_vecs"
JOINTS_DIR = "new_joints"
TEXTS_DIR = "texts"
NORMALIZER_FILES = ("Mean.npy", "Std.npy")
REPORT_FILE = "correction.jsonl"
SUMMARY_FILE = "correction_summary.md"
CONFIG_FILE = "correction_config.json"
IN_FLIGHT_PER_WORKER = 2  # clips submitted ahead per worker: keeps workers busy without holding the dataset
RAY_MAX_RETRIES = 3  # retries of a Ray task whose worker process or node died
REPORT_TIMING_KEYS = ("seconds", "realtime_factor")  # correct()'s own timing, replaced by the clip's wall time
FAILED_LISTED = 20  # failed clips listed in the summary table


def correct_clip(name: str, features: np.ndarray, options: dict, with_joints: bool):
    """Correct one clip's features (T, 263); never raises.

    Returns (name, corrected features or None, joints recovered from them or None, report record).
    """
    start = time.perf_counter()
    try:
        result = correct(features, **options)
        corrected = np.asarray(result.motion, dtype=np.float32)
        joints = features_to_joints(corrected).astype(np.float32) if with_joints else None
    except Exception as exc:  # a batch records the failure and moves on
        record = _record(name, len(features), f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
        return name, None, None, record
    report = {k: v for k, v in result.report.items() if k not in REPORT_TIMING_KEYS}
    return name, corrected, joints, _record(name, len(features), None, time.perf_counter() - start, report)


def _record(name: str, frames: int | None, error: str | None, seconds: float, report: dict | None = None) -> dict:
    record = {
        "clip": name,
        "input": f"{FEATURES_DIR}/{name}.npy",
        "ok": error is None,
        "error": error,
        "frames": frames,
        "motion_seconds": None if frames is None else max(frames - 1, 0) / FPS,
        "seconds": seconds,
    }
    return record | (report or {})


def _read_clip(src: Path, name: str):
    """(features, None) for a readable clip with captions, or (None, failure record)."""
    try:
        features = read_features(src / FEATURES_DIR / f"{name}.npy")
        read_captions(src / TEXTS_DIR / f"{name}.txt")
    except ValueError as exc:
        return None, _record(name, None, f"{type(exc).__name__}: {exc}", 0.0)
    return features, None


def _inputs(src: Path, names):
    """For each name: (name, features) to correct, or a finished failure record."""
    for name in names:
        features, failure = _read_clip(src, name)
        yield failure if failure is not None else (name, features)


def _failed(record: dict):
    return record["clip"], None, None, record


def _run_serial(jobs, options, with_joints):
    for job in jobs:
        yield _failed(job) if isinstance(job, dict) else correct_clip(*job, options, with_joints)


def _run_pool(jobs, options, with_joints, workers):
    with spawn_pool(workers) as pool:
        pending = set()

        def collect(until: int):
            nonlocal pending
            while len(pending) > until:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        raise RuntimeError(
                            "a worker process died (out of memory or a crash); rerun the same command to resume"
                        ) from None

        for job in jobs:
            if isinstance(job, dict):
                yield _failed(job)
                continue
            pending.add(pool.submit(correct_clip, *job, options, with_joints))
            yield from collect(IN_FLIGHT_PER_WORKER * workers - 1)
        yield from collect(0)


def _run_ray(jobs, options, with_joints, ray):
    task = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES)(correct_clip)
    window = IN_FLIGHT_PER_WORKER * max(1, int(ray.cluster_resources().get("CPU", 1)))
    names = {}

    def collect(until: int):
        while len(names) > until:
            ready, _ = ray.wait(list(names), num_returns=1)
            name = names.pop(ready[0])
            try:
                yield ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # the task's worker or node died RAY_MAX_RETRIES + 1 times
                yield _failed(_record(name, None, f"Ray task failed: {type(exc).__name__}: {exc}", 0.0))

    for job in jobs:
        if isinstance(job, dict):
            yield _failed(job)
            continue
        names[task.remote(*job, options, with_joints)] = job[0]
        yield from collect(window - 1)
    yield from collect(0)


@contextmanager
def _ray_session(address: str, workers: int):
    """Connect to a Ray cluster ("auto", "HOST:PORT") or start a local one ("local"), unless already connected."""
    import ray  # optional: only with --ray

    started = not ray.is_initialized()
    if started:
        if address == "local":
            ray.init(num_cpus=workers if workers > 1 else None, include_dashboard=False)
        else:
            ray.init(address=address)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextmanager
def _no_session():
    yield None


def _check_paths(src: Path, dst: Path) -> None:
    if not src.is_dir():
        raise ValueError(f"source folder {src} does not exist; give a HumanML3D-layout folder")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError(f"destination {dst} must lie outside the source {src}: the source is never modified")


def _check_config(dst: Path, src: Path, options: dict) -> None:
    """Record the source and options in DST; a rerun must use the same ones (its clips are mixed with ours)."""
    config = {"source": str(src.resolve()), "options": options}
    path = dst / CONFIG_FILE
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != json.loads(json.dumps(config)):
            raise ValueError(
                f"{dst} was made from {previous['source']} with options {previous['options']}; resume with the "
                f"same source and options, or choose a new destination"
            )
    else:
        write_text(path, json.dumps(config, indent=2) + "\n")


def _load_report(dst: Path, retry_failed: bool) -> dict[str, dict]:
    """The valid records of DST's report, one per clip; rewrite the file if anything had to be dropped.

    Dropped: a truncated last line (a killed write), unparsable lines, repeated clips, successful records whose
    features file is missing (they are redone), and failed records when ``retry_failed``.
    """
    path = dst / REPORT_FILE
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the piece after the last newline is empty or a truncated line
    records, kept = {}, []
    for line in lines:
        try:
            record = json.loads(line)
            name, ok = record["clip"], record["ok"]
        except (ValueError, KeyError, TypeError):
            continue
        if name in records or (retry_failed and not ok):
            continue
        if ok and not (dst / FEATURES_DIR / f"{name}.npy").is_file():
            continue
        records[name] = record
        kept.append(line)
    repaired = "".join(line + "\n" for line in kept)
    if repaired != text:
        write_text(path, repaired)
    return records


def _copy_file(source: Path, target: Path) -> None:
    with atomic_open(target, "wb") as f:
        f.write(source.read_bytes())


def _write_clip(src: Path, dst: Path, name: str, features: np.ndarray, joints: np.ndarray | None) -> None:
    """The clip's files, each atomic; the features file, which marks the clip done, comes last."""
    _copy_file(src / TEXTS_DIR / f"{name}.txt", dst / TEXTS_DIR / f"{name}.txt")
    if joints is not None:
        save_npy(dst / JOINTS_DIR / f"{name}.npy", joints)
    save_npy(dst / FEATURES_DIR / f"{name}.npy", features)


def _append(log, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()
    os.fsync(log.fileno())


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize(records: list[dict], skipped: int, motion_seconds: float, wall_seconds: float) -> dict:
    """Counts, falls and mean metrics before vs after over ``records``; speed of this run."""
    ok = [r for r in records if r["ok"]]
    metric_names = list(ok[0]["metrics_before"]) if ok else []
    return {
        "clips": len(records),
        "ok": len(ok),
        "failed": len(records) - len(ok),
        "skipped": skipped,
        "falls": sum(r["falls"] for r in ok),
        "clips_with_falls": sum(r["falls"] > 0 for r in ok),
        "mean_mpjpe_mm": _mean(r["mpjpe_mm"] for r in ok),
        "mean_assist_n": _mean(r["assist_mean_n"] for r in ok),
        "metrics_before": {m: _mean(r["metrics_before"][m] for r in ok) for m in metric_names},
        "metrics_after": {m: _mean(r["metrics_after"][m] for r in ok) for m in metric_names},
        "motion_seconds": motion_seconds,
        "wall_seconds": wall_seconds,
        "motion_seconds_per_wall_second": motion_seconds / wall_seconds if wall_seconds > 0 else None,
        "failures": {r["clip"]: r["error"] for r in records if not r["ok"]},
    }


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def summary_markdown(summary: dict, src, dst) -> str:
    """The summary as Markdown tables."""
    lines = [
        f"# Physics correction of `{src}` into `{dst}`",
        "",
        "| clips | ok | failed | skipped (done before) | falls | clips with falls | mean MPJPE mm | "
        "motion-s per wall-s (this run) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {summary['clips']} | {summary['ok']} | {summary['failed']} | {summary['skipped']} | {summary['falls']} | "
        f"{summary['clips_with_falls']} | {_number(summary['mean_mpjpe_mm'])} | "
        f"{_number(summary['motion_seconds_per_wall_second'])} |",
        "",
        "| metric (mean over ok clips) | before | after |",
        "|---|---|---|",
    ]
    for name, before in summary["metrics_before"].items():
        lines.append(f"| {name} | {_number(before)} | {_number(summary['metrics_after'][name])} |")
    if summary["failures"]:
        lines += ["", "| failed clip | error |", "|---|---|"]
        for name, error in list(summary["failures"].items())[:FAILED_LISTED]:
            lines.append(f"| {name} | {error.replace('|', '/')} |")
        if len(summary["failures"]) > FAILED_LISTED:
            lines.append(f"| ... | {len(summary['failures']) - FAILED_LISTED} more in {REPORT_FILE} |")
    return "\n".join(lines) + "\n"


def correct_dataset(
    src,
    dst,
    workers: int = 1,
    ray_address: str | None = None,
    limit: int | None = None,
    progress: bool = True,
    retry_failed: bool = False,
    **options,
) -> dict:
    """Physics-correct every clip of the HumanML3D-layout folder ``src`` into ``dst`` (see the module docstring).

    :param workers: processes (1: this one); with ``ray_address="local"`` the CPUs of the local Ray instance.
    :param ray_address: None (no Ray), "local" (start a local instance), "auto" or "HOST:PORT" (a running
        cluster). An already initialised Ray session is used as it is.
    :param limit: correct only the first ``limit`` clips (sorted by name) of the split files.
    :param retry_failed: redo the clips that failed on an earlier run.
    :param options: ``ControllerConfig`` fields, passed to ``correct``.
    :return: the summary dict (counts, falls, mean metrics before/after, motion-seconds per wall-second).
    """
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    ControllerConfig().with_options(**options)  # unknown or invalid options fail before any work
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if limit is not None and not (isinstance(limit, int) and limit >= 0):
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")
    splits = {split: read_split(src, split) for split in SPLITS if (src / f"{split}.txt").is_file()}
    if not splits:
        raise ValueError(f"{src} has no split file ({', '.join(s + '.txt' for s in SPLITS)}): nothing to correct")
    names = sorted({name for split in splits.values() for name in split})[:limit]

    dst.mkdir(parents=True, exist_ok=True)
    with exclusive_folder(dst, "batch correction"):
        _check_config(dst, src, options)
        remove_stale_temporaries(dst)
        records = _load_report(dst, retry_failed)
        todo = [name for name in names if name not in records]
        for name in NORMALIZER_FILES:
            if (src / name).is_file():
                _copy_file(src / name, dst / name)
        with_joints = (src / JOINTS_DIR).is_dir()

        start = time.perf_counter()
        motion_seconds = 0.0
        jobs = _inputs(src, todo)
        session = _ray_session(ray_address, workers) if ray_address else _no_session()
        with (
            session as ray,
            open(dst / REPORT_FILE, "a", encoding="utf-8") as log,
            tqdm(
                total=len(names), initial=len(names) - len(todo), desc="correcting", unit="clip", disable=not progress
            ) as bar,
        ):
            if ray is not None:
                results = _run_ray(jobs, options, with_joints, ray)
            elif workers > 1:
                results = _run_pool(jobs, options, with_joints, workers)
            else:
                results = _run_serial(jobs, options, with_joints)
            for name, features, joints, record in results:
                if features is not None:
                    _write_clip(src, dst, name, features, joints)
                    motion_seconds += record["motion_seconds"]
                _append(log, record)
                records[name] = record
                bar.update()
        wall = time.perf_counter() - start

        ok = {name for name, record in records.items() if record["ok"]}
        write_splits(dst, {split: [n for n in split_names if n in ok] for split, split_names in splits.items()})
        summary = summarize([records[n] for n in names if n in records], len(names) - len(todo), motion_seconds, wall)
        write_text(dst / SUMMARY_FILE, summary_markdown(summary, src, dst))
    return summary


def parse_options(pairs) -> dict:
    """``["assist_force=0", "on_fall=stop"]`` -> typed ``ControllerConfig`` options."""
    defaults = {f.name: f.default for f in fields(ControllerConfig)}
    options = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in defaults:
            raise ValueError(f"expected option=value with option one of {sorted(defaults)}, got {pair!r}")
        kind = type(defaults[name])
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{name} takes true or false, got {text!r}")
            options[name] = text.lower() in ("true", "1")
        else:
            try:
                options[name] = kind(text)
            except ValueError:
                raise ValueError(f"{name} takes a {kind.__name__}, got {text!r}") from None
    return options


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m physics_correct.batch",
        description="Physics-correct a HumanML3D-layout dataset SRC into DST (resumable: rerun to continue).",
    )
    parser.add_argument("src", help="HumanML3D-layout folder (read only)")
    parser.add_argument("dst", help="output folder (created; rerun with the same arguments to resume)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (with --ray local: its CPUs)")
    parser.add_argument("--ray", metavar="ADDRESS", help="run on Ray: 'local', 'auto' or HEAD:6379")
    parser.add_argument("--limit", type=int, help="correct only the first K clips (sorted by name)")
    parser.add_argument("--retry-failed", action="store_true", help="redo clips that failed on an earlier run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("options", nargs="*", metavar="option=value", help="controller options, e.g. assist_force=0")
    args = parser.parse_args(argv)
    try:
        summary = correct_dataset(
            args.src,
            args.dst,
            workers=args.workers,
            ray_address=args.ray,
            limit=args.limit,
            progress=not args.no_progress,
            retry_failed=args.retry_failed,
            **parse_options(args.options),
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(summary_markdown(summary, args.src, args.dst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
