"""Issue 12's red-team suite: every attack runs in its own process against a fresh copy of a prepared pond.

After each attack: the pond on disk is unchanged, the same Pond object and a fresh ``Pond.open`` give the
canonical answers, no marker (host file, environment, later or removed file) shows in any result or
error, no connection reached the 127.0.0.1 listener, the query returned within 2 x timeout + 1 s, and
the attack process with its descendants stayed under ``harness.RSS_CAP_MB`` of RSS. CI runs the fast
subset (a few attacks of every class); ``TINYLOGSQL_NIGHTLY=1`` runs the whole corpus
(``TINYLOGSQL_REDTEAM_ONLY=<file of names>`` runs just those, in that order). The outcome
counts by class are printed at the end (``pytest -s``) and written to ``$TINYLOGSQL_REDTEAM_REPORT``.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict

import pytest
from redteam.attacks import ATTACKS, CLASSES, Attack
from redteam.harness import Harness, Verdict

NIGHTLY = os.environ.get("TINYLOGSQL_NIGHTLY") == "1"
ONLY = os.environ.get("TINYLOGSQL_REDTEAM_ONLY")  # a file of attack names, one a line: re-run just those
_only = open(ONLY).read().splitlines() if ONLY else None
_by_name = {a.name: a for a in ATTACKS}
SELECTED = ([_by_name[n] for n in _only if n in _by_name and (NIGHTLY or _by_name[n].fast)] if _only is not None
            else [a for a in ATTACKS if NIGHTLY or a.fast])
VERDICTS: list[Verdict] = []


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("redteam"))
    yield h
    h.close()
    print("\n" + summarize(VERDICTS))


def write_report() -> None:
    """The verdicts so far as JSON in ``$TINYLOGSQL_REDTEAM_REPORT`` (rewritten after every attack)."""
    out = os.environ.get("TINYLOGSQL_REDTEAM_REPORT")
    if out:
        with open(out, "w") as f:
            json.dump([{"name": v.attack.name, "class": v.attack.cls, "outcome": v.outcome, "failures": v.failures,
                        "seconds": round(v.seconds, 2), "peak_rss_mb": round(v.peak_rss_mb), "detail": v.detail,
                        "query": v.attack.query[:2000], "dialect": repr(v.attack.dialect), "at": v.attack.at,
                        "kind": v.attack.kind} for v in VERDICTS], f, indent=1)


def summarize(verdicts: list[Verdict]) -> str:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for v in verdicts:
        table[v.attack.cls][v.outcome] += 1
        if v.failures:
            table[v.attack.cls]["FAILED"] += 1
    cols = ["rejected", "error", "ran", "timeout", "n/a", "FAILED"]
    lines = [f"red-team: {len(verdicts)} attacks ({'nightly, all' if NIGHTLY else 'CI subset'})",
             f"{'class':<36}" + "".join(f"{c:>10}" for c in cols)]
    for cls in CLASSES:
        if cls in table:
            lines.append(f"{cls:<36}" + "".join(f"{table[cls][c]:>10}" for c in cols))
    total = sum(table.values(), Counter())
    lines.append(f"{'total':<36}" + "".join(f"{total[c]:>10}" for c in cols))
    return "\n".join(lines)


def test_corpus_covers_every_class():
    """At least 150 attacks in all, and the CI subset has some of every class."""
    assert len(ATTACKS) >= 150
    for cls in CLASSES:
        assert sum(a.cls == cls for a in ATTACKS) >= 3, cls
        assert sum(a.cls == cls and a.fast for a in ATTACKS) >= 2, cls


@pytest.mark.parametrize("attack", SELECTED, ids=[a.name for a in SELECTED])
def test_attack(harness: Harness, attack: Attack):
    verdict = harness.run(attack)
    VERDICTS.append(verdict)
    write_report()
    assert not verdict.failures, (
        f"[{attack.cls}] {attack.name}\nquery: {attack.query[:500]!r} dialect={attack.dialect!r} at={attack.at}\n"
        f"outcome: {verdict.outcome} ({verdict.detail[:300]})\n" + "\n".join(f"- {f}" for f in verdict.failures)
    )
