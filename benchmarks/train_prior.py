"""Train the cross-listener prior on the shared histories and write it as the package's JSON file.

Usage: uv run python benchmarks/train_prior.py [--histories DIR] [--exclude NAME,...] [--out FILE]

Reads every history in DIR (default ../shared/data/histories), builds each one's artist-month
table with the project's definitions, fits pipeline.prior.fit_prior on all of them but the
excluded ones (leave-one-listener-out) and writes plain JSON (default pipeline/prior_model.json).
The result is deterministic for the same files and code (fixed seed, one thread per fit), except
the manifest's created_at.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HISTORIES = ROOT.parent / "shared/data/histories"


def history_name(path: Path) -> str:
    """The listener's name: the file's stem before its first dot."""
    return path.name.split(".")[0]


def history_files(directory: str | Path) -> list[Path]:
    """The history files (.csv, .json) of a directory, by name."""
    return sorted(p for p in Path(directory).glob("*") if p.suffix in (".csv", ".json"))


def history_rows(path: str | Path):
    """(name, content hash, the rows the prior learns from) of one history file."""
    from pipeline.config import PipelineConfig
    from pipeline.features import build_artist_months
    from pipeline.importers import read_history
    from pipeline.labels import add_labels
    from pipeline.prior import content_hash, prior_rows

    path, cfg = Path(path), PipelineConfig()
    table = add_labels(build_artist_months(read_history(str(path)).frame, cfg), cfg)
    return history_name(path), content_hash(path.read_bytes()), prior_rows(table, cfg)


def train(files: list[Path], exclude: set[str], nthread: int = 2):
    """The prior fit on every file whose listener is not in `exclude`."""
    from pipeline.prior import fit_prior

    parts, hashes = {}, {}
    for path in files:
        if history_name(path) in exclude:
            continue
        name, hashes[name], parts[name] = history_rows(path)
    return fit_prior(parts, hashes, nthread=nthread)


def main() -> int:
    """Fit and write the prior; print its manifest's figures."""
    from pipeline.prior import PRIOR_FILE, save_prior

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default=str(HISTORIES))
    parser.add_argument("--exclude", default="", help="comma-separated listener names to leave out")
    parser.add_argument("--out", default=str(PRIOR_FILE))
    args = parser.parse_args()
    files = history_files(args.histories)
    if not files:
        print(f"no histories in {args.histories}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    prior = train(files, {n for n in args.exclude.split(",") if n})
    path = save_prior(prior, args.out)
    m = prior.manifest
    names = ", ".join(h["name"] for h in m["histories"])
    print(f"prior: {m['rows']} rows, {m['positives']} breakouts from {names}")
    print(f"wrote {path} ({path.stat().st_size} bytes) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
