"""Entry files and result folders, read into leaderboard rows.

An entry file (``baselines/configs/<entry>.json``) says what to train and how to score it; a
result file (``<entry>.json``, ``<entry>-seed<N>.json``) is one measured run. Every entry file
gets a row ("not run yet" until a result exists); results without an entry file (external
submissions, extra seeds) get one too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spirograph._checks import is_int
from spirograph.errors import ConfigError
from spirograph.files import read_json
from spirograph.leaderboard._protocol import Protocol, evaluation_protocol_name
from spirograph.leaderboard._result import LeaderboardResult
from spirograph.leaderboard._seeds import SeedGroup, base_entry, group_seeds, result_protocol, settings_of
from spirograph.leaderboard._tables import LeaderboardRow

__all__ = [
    "ENTRY_KEYS",
    "METHODS",
    "TRAINED_METHODS",
    "check_entry_name",
    "check_results_match",
    "load_entry",
    "load_results",
    "load_rows",
]

METHODS = ("simclr", "invclr", "pixels", "random", "oracle", "external")
TRAINED_METHODS = ("simclr", "invclr")
ENTRY_KEYS = frozenset(
    {"entry", "title", "method", "description", "train", "evaluation", "expected_time", "hardware", "seed"}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# An entry file is a few kilobytes; anything far larger is not one.
_MAX_ENTRY_BYTES = 1 << 20


def check_entry_name(name: Any, where: str) -> str:
    """A plain entry name: letters, digits, ``.``, ``_`` and ``-``, no path, at most 128 characters.

    Result files are named after it, so a name with a separator or ``..`` would write outside
    the results folder.

    Raises:
        ConfigError: anything else (the message shows what arrived).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            f"{where}: `entry` must be a plain name (letters, digits, '.', '_', '-'; no path; at most 128 "
            f"characters), got {name!r:.80}"
        )
    return name


def load_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check an entry file; the ``evaluation`` object comes back complete (the paper's defaults filled in).

    Raises:
        ConfigError: an unreadable file, an unknown key, a name that is not plain, an unknown
            method, training settings that ``TrainConfig`` refuses, or a method that does not
            match its penalty weight.
    """
    from spirograph.baselines import TrainConfig  # the method's config; the leaderboard only checks it

    where = "load_entry"
    entry = read_json(
        path, where=where, what=f"entry {os.fspath(path)!r}", error=ConfigError, max_bytes=_MAX_ENTRY_BYTES
    )
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: entry {os.fspath(path)!r} must hold a JSON object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: entry {os.fspath(path)!r} has unknown keys {unknown}; valid keys are {sorted(ENTRY_KEYS)}"
        )
    check_entry_name(entry.get("entry"), where)
    for key in ("title", "method"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(
                f"{where}: entry {os.fspath(path)!r} needs a non-empty string `{key}`, got {entry.get(key)!r:.60}"
            )
    for key in ("description", "expected_time", "hardware"):
        if key in entry and not isinstance(entry[key], str):
            raise ConfigError(f"{where}: `{key}` must be a string, got {type(entry[key]).__name__}")
    if entry["method"] not in METHODS[:-1]:
        raise ConfigError(f"{where}: `method` must be one of {list(METHODS[:-1])}, got {entry['method']!r}")
    if entry["method"] in TRAINED_METHODS:
        if not isinstance(entry.get("train"), dict):
            raise ConfigError(
                f"{where}: a trained entry ({entry['method']}) needs a `train` object of TrainConfig settings"
            )
        config = TrainConfig.from_dict(entry["train"])  # validates now, before any work
        if (entry["method"] == "simclr") != (config.penalty_weight == 0):
            raise ConfigError(
                f"{where}: method {entry['method']!r} does not match penalty_weight={config.penalty_weight} "
                "(simclr trains with 0, invclr with a positive weight)"
            )
    elif "train" in entry:
        raise ConfigError(f"{where}: the reference method {entry['method']!r} is not trained; remove `train`")
    seed = entry.setdefault("seed", 0)
    if not is_int(seed) or not 0 <= seed < 2**63:
        raise ConfigError(f"{where}: `seed` must be an int in [0, 2**63), got {seed!r:.60}")
    entry["evaluation"] = Protocol.from_dict(entry.get("evaluation", {}), name="entry").to_dict()
    return entry


def check_results_match(entry: dict[str, Any], group: SeedGroup, path: str | os.PathLike[str]) -> None:
    """Results shown under an entry file must have been made with its settings (seed aside).

    Raises:
        ConfigError: a setting differs (the message names it, with both values).
    """
    from spirograph.baselines import TrainConfig

    train = TrainConfig.from_dict(entry["train"]).to_dict() if entry.get("train") else None
    fake = LeaderboardResult.from_dict(
        {**group.first.to_dict(), "method": entry["method"], "protocol": None, "config": {**entry, "train": train}}
    )
    wanted, measured = settings_of(fake), settings_of(group.first)
    keys = [key for key in wanted if not key.startswith(("steps_done", "submission", "protocol"))]
    differing = sorted(key for key in keys if wanted.get(key) != measured.get(key))
    if differing:
        shown = "; ".join(f"{key}: entry {wanted.get(key)!r}, result {measured.get(key)!r}" for key in differing[:4])
        raise ConfigError(
            f"load_rows: the results of {entry['entry']!r} were made with other settings than its entry file "
            f"{os.fspath(path)!r} ({shown}); rerun the entry or restore its entry file"
        )


def load_results(folders: Iterable[str | os.PathLike[str]]) -> list[LeaderboardResult]:
    """Every ``*.json`` result file of ``folders`` (missing folders count as empty), each checked."""
    results = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.json")):
            result = LeaderboardResult.load(path)
            if result.entry != path.stem:
                raise ConfigError(
                    f"load_results: {os.fspath(path)!r} holds the result of {result.entry!r}; "
                    f"rename it {result.entry}.json"
                )
            results.append(result)
    return results


def load_rows(
    configs_dir: str | os.PathLike[str] | None, results_dirs: Iterable[str | os.PathLike[str]]
) -> list[LeaderboardRow]:
    """The leaderboard's rows: one per entry file and per entry of results without one.

    Raises:
        ConfigError: a malformed entry or result file, or seeds of one entry that differ in
            settings (see [`group_seeds()`][spirograph.leaderboard.group_seeds]).
    """
    groups = {group.entry: group for group in group_seeds(load_results(results_dirs))}
    rows = []
    for path in sorted(Path(configs_dir).glob("*.json")) if configs_dir is not None else []:
        entry = load_entry(path)
        group = groups.pop(entry["entry"], None)
        if group is not None:
            check_results_match(entry, group, path)
        protocol = group.protocol if group is not None else evaluation_protocol_name(entry["evaluation"])
        rows.append(
            LeaderboardRow(
                entry=entry["entry"],
                title=entry["title"],
                method=entry["method"],
                protocol=protocol,
                hardware=entry.get("hardware", ""),
                train=group.first.config.get("train") if group is not None else entry.get("train"),
                group=group,
            )
        )
    for group in groups.values():
        first = group.first
        rows.append(
            LeaderboardRow(
                entry=base_entry(first.entry),
                title=group.title,
                method=first.method,
                protocol=result_protocol(first),
                hardware=str(first.config.get("hardware", "")),
                train=first.config.get("train"),
                group=group,
            )
        )
    return rows
