"""The change feed (issue 16): changes(), watch(), durable subscriptions, the `subscriptions` view
and the `watch` command. Real Delta tables, real processes for other writers and consumers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from reliability_helpers import scale
from test_cli import COMMAND, run

from tinylogsql import (
    Change,
    ChangeBatch,
    ConflictError,
    InvalidArgumentError,
    Pond,
    PondError,
    Subscription,
    SubscriptionMismatchError,
    VersionNotFoundError,
)
from tinylogsql.changes import check_globs, matches

pytestmark = pytest.mark.backends("local", "s3")
HELPER = str(Path(__file__).with_name("feed_helpers.py"))


def helper(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, HELPER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def history_rows(pond: Pond, since: int) -> list[tuple]:
    return [tuple(row) for row in pond._fixed_sql(
        "SELECT version, seq, op, kind, path, from_path, size, sha256, target, node_id FROM history "
        "WHERE version > ? ORDER BY version, seq", [since])]


@pytest.fixture
def local(tmp_path):
    """A local pond and its path (for tests whose behaviour does not depend on the storage)."""
    path = str(tmp_path / "pond")
    with Pond.create(path, author="tester") as made:
        yield made, path


def summary(changes) -> list[tuple[str, str, str | None]]:
    return [(c.op, c.path, c.from_path) for c in changes]


# -- changes() ---------------------------------------------------------------------------
def test_changes_are_history_rows_after_a_version(pond):
    root = pond.root
    root.create_dir_path("/data/in", parents=True)
    since = pond.version
    root.create_file_path("/data/in/a.csv", "1")
    root.create_dir_path("/other")
    root.create_file_path("/other/b.csv", "2")
    with pond.transaction(message="move and write", author="ann"):
        root.rename("/other", "/data/in/other")
        root.write_file_path("/data/in/other/b.csv", "3")
    root.create_symlink_path("/link", "/data/in/a.csv")
    root.rename("/data/in", "/data/moved")
    root.remove("/data/moved", recursive=True)
    got = list(pond.changes(since))
    assert all(isinstance(c, Change) for c in got)
    assert [(c.version, c.seq, c.op, c.kind, c.path, c.from_path, c.size, c.sha256, c.target, c.node_id)
            for c in got] == history_rows(pond, since)
    moved = [c for c in got if c.message == "move and write"]
    assert {c.author for c in moved} == {"ann"} and summary(moved) == [
        ("move", "/data/in/other", "/other"), ("write", "/data/in/other/b.csv", None)]
    assert summary(pond.changes(pond.version)) == []
    assert list(pond.changes(since + 1)) == got[1:]  # after a version: that version excluded


def test_path_filters_and_moves_in_and_out_of_a_watched_folder(local):
    pond, pond_path = local
    root = pond.root
    root.create_dir_path("/data")
    root.create_dir_path("/tmp")
    since = pond.version
    root.create_file_path("/tmp/x.csv", "x")
    root.rename("/tmp/x.csv", "/data/x.csv")  # moved in
    root.create_file_path("/data/y.txt", "y")
    root.rename("/data/y.txt", "/tmp/y.txt")  # moved out
    root.create_dir_path("/data/sub")
    root.create_file_path("/data/sub/z.csv", "z")
    root.create_file_path("/top.csv", "t")
    assert summary(pond.changes(since, "/data/**")) == [
        ("move", "/data/x.csv", "/tmp/x.csv"), ("create", "/data/y.txt", None), ("move", "/tmp/y.txt", "/data/y.txt"),
        ("create", "/data/sub", None), ("create", "/data/sub/z.csv", None)]
    assert summary(pond.changes(since, "/data/*.csv")) == [("move", "/data/x.csv", "/tmp/x.csv")]
    assert summary(pond.changes(since, "/**/*.csv")) == [
        ("create", "/tmp/x.csv", None), ("move", "/data/x.csv", "/tmp/x.csv"), ("create", "/data/sub/z.csv", None),
        ("create", "/top.csv", None)]
    assert summary(pond.changes(since, ["/top.csv", "/tmp/?.txt"])) == [
        ("move", "/tmp/y.txt", "/data/y.txt"), ("create", "/top.csv", None)]
    assert summary(pond.changes(since, "/data/[xz]*")) == [("move", "/data/x.csv", "/tmp/x.csv")]


def test_bad_arguments_raise_clear_errors_and_change_nothing(local):
    pond, pond_path = local
    pond.root.create_file_path("/a", "a")
    before = pond.version
    with pytest.raises(VersionNotFoundError):
        list(pond.changes(before + 5))
    with pytest.raises(VersionNotFoundError):
        list(pond.changes(-1))
    for bad in ("3", 2.0, None, True):
        with pytest.raises(InvalidArgumentError):
            list(pond.changes(bad))
    for paths in ("data/**", [], [1], ["/ok", "relative"]):
        with pytest.raises(InvalidArgumentError):
            list(pond.changes(0, paths))
    with pytest.raises(InvalidArgumentError):
        next(iter(pond.watch(timeout=-1)))
    with pytest.raises(InvalidArgumentError):
        next(iter(pond.watch(timeout=0, poll_interval=0)))
    with pytest.raises(PondError):
        pond.subscription("bad name")
    with pytest.raises(PondError):
        pond.at(0).subscription("fine")
    sub = pond.subscription("s")
    created = pond._engine.version
    for version in (-1, created + 10, "1", 1.5):
        with pytest.raises(InvalidArgumentError):
            sub.ack(version)
    with pytest.raises(InvalidArgumentError):
        sub.pending(limit=0)
    assert sub.position == created and pond.version == before
    assert pond.check().ok


def test_changes_follow_the_pond_branch(local):
    pond, pond_path = local
    pond.root.create_file_path("/a", "a")
    fork = pond.version
    feature = pond.create_branch("feature")
    feature.root.create_file_path("/on-feature", "f")
    pond.root.create_file_path("/on-main", "m")
    assert summary(feature.changes(fork)) == [("create", "/on-feature", None)]
    assert summary(pond.changes(fork)) == [("create", "/on-main", None)]
    assert summary(pond.at(fork + 1).changes(0)) == [("create", "/a", None)]  # as of that version


# -- watch ---------------------------------------------------------------------------------
def test_watch_times_out_without_matching_commits(local):
    pond, pond_path = local
    pond.root.create_file_path("/other", "x")
    started = pond.version
    assert list(pond.watch("/data/**", timeout=0.3)) == []
    assert list(pond.watch("/data/**", since=0, timeout=0.1)) == []  # /other never matched
    assert [b.version for b in pond.watch(since=0, timeout=0.1)] == [started]


def test_watch_sees_another_process_commit(pond, pond_path):
    pond.root.create_dir_path("/in")
    writer = helper("write", pond_path, "3", "0.2")
    try:
        got = []
        for batch in pond.watch("/in/*.csv", timeout=60, poll_interval=0.05 if pond._store.location.remote else None):
            assert isinstance(batch, ChangeBatch)
            got.append(batch)
            if len(got) == 3:
                break
    finally:
        assert writer.wait(timeout=60) == 0, writer.stderr.read()
    assert [summary(b.changes) for b in got] == [[("create", f"/in/f{i}.csv", None)] for i in range(3)]
    assert [b.author for b in got] == ["writer"] * 3
    assert [b.version for b in got] == sorted(b.version for b in got)


def test_watch_since_replays_then_follows(local):
    pond, pond_path = local
    base = pond.version
    pond.root.create_file_path("/a", "a")
    feed = iter(pond.watch(since=base, timeout=30))
    assert summary(next(feed).changes) == [("create", "/a", None)]
    threading.Timer(0.2, lambda: pond.root.create_file_path("/b", "b")).start()
    assert summary(next(feed).changes) == [("create", "/b", None)]


# -- subscriptions ------------------------------------------------------------------------------
def test_subscription_is_durable_across_reopen(pond, pond_path):
    pond.root.create_dir_path("/raw")
    pond.root.create_file_path("/raw/before.csv", "old")  # before the subscription: never pending
    sub = pond.subscription("etl", "/raw/**")
    assert isinstance(sub, Subscription)
    made = sub.position
    assert made == pond._engine.version and sub.pending() == []  # starts after its own creation commit
    pond.root.create_file_path("/raw/a.csv", "a")
    pond.root.create_file_path("/elsewhere", "e")
    pond.root.create_file_path("/raw/b.csv", "b")
    pending = sub.pending()
    assert [summary(b.changes) for b in pending] == [[("create", "/raw/a.csv", None)], [("create", "/raw/b.csv", None)]]
    assert [b.version for b in sub.pending(limit=1)] == [pending[0].version]
    sub.ack(pending[0].version)
    pond.close()
    with Pond.open(pond_path) as again:
        sub = again.subscription("etl")  # paths=None keeps the stored ones
        assert sub.paths == ("/raw/**",) and sub.position == pending[0].version
        assert [b.version for b in sub.pending()] == [pending[1].version]
        with pytest.raises(SubscriptionMismatchError) as caught:
            again.subscription("etl", "/other/**")
        assert isinstance(caught.value, ValueError)
        assert [s.name for s in again.subscriptions()] == ["etl"]
        rows = again.sql("SELECT name, branch, position, paths FROM subscriptions").fetchall()
        assert rows == [("etl", "main", pending[0].version, ["/raw/**"])]
        assert again.check().ok


def test_ack_lands_with_the_transaction_or_not_at_all(local):
    pond, pond_path = local
    pond.root.create_dir_path("/in")
    pond.root.create_dir_path("/out")
    sub = pond.subscription("pipe", "/in/**")
    start = sub.position
    pond.root.create_file_path("/in/a", "a")
    batch = sub.pending()[0]
    with pytest.raises(RuntimeError):
        with pond.transaction():
            pond.root.create_file_path("/out/a", "A")
            sub.ack(batch.version)
            raise RuntimeError("boom")
    assert sub.position == start and not pond.root.exists("/out/a") and sub.pending() == [batch]
    with pond.transaction() as tx:
        pond.root.create_file_path("/out/a", "A")
        sub.ack(batch.version)
    assert sub.position == batch.version and pond.root.exists("/out/a")
    assert [c.path for c in pond.changes(batch.version)] == ["/out/a"]  # output and ack: one commit
    assert tx.committed_version == pond._engine.version
    pond.root.create_file_path("/in/b", "b")
    nxt = sub.pending()[0]
    sub.ack(nxt.version)  # the handle knows its own transaction committed: no false conflict
    assert sub.position == nxt.version


def test_outputs_of_a_subscription_are_not_pending_for_it(local):
    pond, pond_path = local
    sub = pond.subscription("all")  # every path, including its own outputs
    pond.root.create_file_path("/in", "i")
    batch = sub.pending()[0]
    with pond.transaction():
        pond.root.create_file_path("/out", "o")
        sub.ack(batch.version)
    assert sub.pending() == []
    other = pond.subscription("downstream")
    assert other.pending() == []  # made after: starts after them


def test_concurrent_acks_conflict(pond):
    pond.root.create_file_path("/a", "a")
    first = pond.subscription("shared")
    second = pond.subscription("shared")
    pond.root.create_file_path("/b", "b")
    target = first.pending()[0].version
    second.pending()
    first.ack(target)
    with pytest.raises(ConflictError):
        second.ack(target)
    with pytest.raises(ConflictError):
        with pond.transaction():
            pond.root.create_file_path("/out", "o")
            second.ack(target)
    assert not pond.root.exists("/out")
    assert second.position == target  # re-read: now it may ack
    pond.root.create_file_path("/c", "c")
    second.ack(pond._engine.version)
    with pytest.raises(ConflictError):
        first.ack(pond._engine.version)


def test_a_subscription_follows_its_branch(local):
    pond, pond_path = local
    feature = pond.create_branch("feature")
    sub = feature.subscription("f-sub")
    assert sub.branch == "feature"
    pond.root.create_file_path("/main-only", "m")
    feature.root.create_file_path("/feature-only", "f")
    assert [summary(b.changes) for b in sub.pending()] == [[("create", "/feature-only", None)]]
    with pytest.raises(SubscriptionMismatchError):
        pond.subscription("f-sub")
    assert pond.subscriptions() == [] and [s.name for s in feature.subscriptions()] == ["f-sub"]
    with feature.transaction():  # an output and its ack, then merged: the ack rows are no node ops
        feature.root.create_file_path("/out", "o")
        sub.ack(sub.pending()[0].version)
    result = pond.merge("feature")
    assert sorted(c.path for c in result.changes) == ["/feature-only", "/out"]
    assert [c.path for c in pond.changes(result.version - 1)] == ["/feature-only", "/out"]
    assert sub.position == feature.version - 1 and sub.pending() == []
    assert pond.check().ok and feature.check().ok


def test_competing_consumer_processes_process_each_batch_once(local):
    pond, pond_path = local
    pond.root.create_dir_path("/in")
    pond.root.create_dir_path("/out")
    pond.subscription("etl", "/in/**")
    for index in range(scale(6, 40)):
        pond.root.create_file_path(f"/in/f{index}.csv", str(index))
    consumers = [helper("consume", pond_path, "etl", "drain") for _ in range(2)]
    for proc in consumers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    check_exactly_once(pond)


def check_exactly_once(pond: Pond) -> None:
    """Every commit that touched /in is reflected by exactly one output naming its inputs."""
    inputs = {b.version: [c.path for c in b.changes] for b in pond.watch("/in/**", since=0, timeout=0)}
    outputs = Counter()
    for name in [entry.name for entry in pond.root.open_dir_path("/out").listing()]:
        version = int(name.split("-", 1)[0])
        outputs[version] += 1
        assert pond.root.read_file_path(f"/out/{name}").decode().split() == inputs[version]
    assert outputs == Counter(dict.fromkeys(inputs, 1))
    written = {c.version for c in pond.changes(0, "/out/*") if c.op == "create"}
    assert written == pond._refs().acked["etl"]  # each output landed in the commit of its ack, and vice versa
    sub = pond.subscription("etl")
    assert sub.pending() == [] and sub.position >= max(inputs)


def test_exactly_once_when_consumers_are_killed(local):
    pond, pond_path = local
    rng = random.Random(int(os.environ.get("TINYLOGSQL_SEED", "16")))
    pond.root.create_dir_path("/in")
    pond.root.create_dir_path("/out")
    pond.subscription("etl", "/in/**")
    writer = helper("write", pond_path, str(scale(10, 80)), "0.05")
    kills = 0
    for _ in range(scale(3, 40)):
        consumer = helper("consume", pond_path, "etl")
        assert consumer.stdout.readline().strip() == "ready", consumer.stderr.read()
        time.sleep(rng.uniform(0.0, 0.4))
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=30)
        kills += consumer.returncode == -signal.SIGKILL
    assert writer.wait(timeout=120) == 0, writer.stderr.read()
    drain = helper("consume", pond_path, "etl", "drain")
    _, err = drain.communicate(timeout=120)
    assert drain.returncode == 0, err
    assert kills >= 1
    check_exactly_once(pond)
    assert pond.check().ok


# -- the CLI ---------------------------------------------------------------------------------------
def cli(pond_path: str, *args: str, ok: bool = True, env: dict[str, str] | None = None):
    return run("--pond", pond_path, *args, ok=ok, env=env)


def test_cli_watch_json_count_since(local):
    pond, pond_path = local
    pond.root.create_dir_path("/d")
    since = pond.version
    pond.root.create_file_path("/d/a", "a")
    pond.root.rename("/d/a", "/d/b")
    pond.root.create_file_path("/e", "e")
    out = cli(pond_path, "watch", "/d/**", "--since", str(since), "--json", "--count", "2").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["op"], r["path"], r["from_path"]) for r in rows] == [("create", "/d/a", None), ("move", "/d/b", "/d/a")]
    plain = cli(pond_path, "watch", "--since", str(since), "--count", "3").stdout.splitlines()
    assert [line.split("\t")[1:] for line in plain] == [
        ["create", "file", "/d/a"], ["move", "file", "/d/b (from /d/a)"], ["create", "file", "/e"]]
    bad = cli(pond_path, "watch", "--since", "999", ok=False)
    assert bad.returncode != 0 and "version 999" in bad.stderr


def test_cli_watch_name_resumes_and_acks(local):
    pond, pond_path = local
    pond.root.create_dir_path("/raw")
    pond.subscription("etl", "/raw/**")
    pond.root.create_file_path("/raw/a", "a")
    pond.root.create_file_path("/raw/b", "b")
    out = cli(pond_path, "watch", "--name", "etl", "--json", "--count", "1").stdout
    assert [json.loads(line)["path"] for line in out.splitlines()] == ["/raw/a"]
    out = cli(pond_path, "watch", "--name", "etl", "--json", "--timeout", "0").stdout
    assert [json.loads(line)["path"] for line in out.splitlines()] == ["/raw/b"]
    with Pond.open(pond_path) as fresh:
        assert fresh.subscription("etl").pending() == []
    clash = cli(pond_path, "watch", "--name", "etl", "--since", "1", ok=False)
    assert clash.returncode == 2 and "--since" in clash.stderr


def test_cli_watch_exec_acks_only_after_success(local, tmp_path):
    pond, pond_path = local
    pond.root.create_dir_path("/raw")
    cli(pond_path, "watch", "/raw/**", "--name", "job", "--timeout", "0")
    pond.root.create_file_path("/raw/a", "a")
    version = pond.version
    seen = tmp_path / "seen.json"
    failing = f"cat > {seen}; echo $TINYLOGSQL_VERSION >> {seen}; exit 3"
    result = cli(pond_path, "watch", "--name", "job", "--exec", failing, "--timeout", "0", ok=False)
    assert result.returncode == 1 and "not acknowledged" in result.stderr
    text = seen.read_text().splitlines()
    assert json.loads(text[0])["changes"][0]["path"] == "/raw/a" and text[1] == str(version)
    with Pond.open(pond_path) as fresh:
        assert [b.version for b in fresh.subscription("job").pending()] == [version]  # no ack
    cli(pond_path, "watch", "--name", "job", "--exec", f"cat > {seen}", "--timeout", "0")
    assert json.loads(seen.read_text())["version"] == version
    with Pond.open(pond_path) as fresh:
        assert fresh.subscription("job").pending() == [] and fresh.subscription("job").position == version


def test_cli_watch_stops_cleanly_on_ctrl_c(local):
    pond, pond_path = local
    proc = subprocess.Popen([*COMMAND, "--pond", pond_path, "watch", "--name", "w"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not pond.subscriptions() and time.monotonic() < deadline:
        time.sleep(0.05)  # subscribed: it is waiting for commits
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert pond.check().ok


def test_changes_after_compaction_and_vacuum(local):
    pond, _ = local
    since = pond.version
    for index in range(5):
        pond.root.create_file_path(f"/f{index}", str(index))
    pond.root.rename("/f0", "/g0")
    pond.maintain(retention_hours=0, unsafe=True)  # the commits' data files are gone: compacted
    got = list(pond.changes(since))
    assert [(c.version, c.seq, c.op, c.kind, c.path, c.from_path, c.size, c.sha256, c.target, c.node_id)
            for c in got] == history_rows(pond, since)
    assert summary(got)[-1] == ("move", "/g0", "/f0")


def test_changes_match_history_over_random_trees(local):
    """Random creates, writes, moves (of folders too) and removes; for several `since` and globs,
    changes() are exactly the `history` rows after `since`, filtered as the globs say."""
    pond, _ = local
    rng = random.Random(int(os.environ.get("TINYLOGSQL_SEED", "1616")))
    root = pond.root
    for step in range(scale(40, 300)):
        with pond.transaction(message=f"step {step}"):
            for _ in range(rng.randint(1, 3)):
                dirs = ["/"] + [f"{d}/{name}".replace("//", "/") for d, names, _ in root.walk("/") for name in names]
                files = [f"{d}/{name}".replace("//", "/") for d, _, names in root.walk("/") for name in names]
                choice = rng.random()
                folder = rng.choice(dirs)
                name = f"{folder}/{rng.choice('abcde')}{rng.randint(0, 9)}".replace("//", "/")
                if root.exists(name):
                    continue
                if choice < 0.35:
                    root.create_file_path(name, str(step))
                elif choice < 0.55:
                    root.create_dir_path(name)
                elif choice < 0.7 and files:
                    path = rng.choice(files)
                    if root.exists(path):
                        root.write_file_path(path, f"w{step}")
                elif choice < 0.9 and len(dirs) > 1:
                    source = rng.choice(dirs[1:] + files)
                    if root.exists(source) and not (name + "/").startswith(source + "/"):
                        root.rename(source, name)
                elif len(dirs) > 1:
                    victim = rng.choice(dirs[1:])
                    if root.exists(victim):
                        root.remove(victim, recursive=True)
    latest = pond.version
    kinds = {(c.op, c.kind) for c in pond.changes(0)}
    assert {("move", "dir"), ("remove", "dir"), ("move", "file"), ("write", "file")} <= kinds  # a real workout
    for since in (0, latest // 3, latest // 2, latest - 1):
        got = list(pond.changes(since))
        assert [(c.version, c.seq, c.op, c.kind, c.path, c.from_path, c.size, c.sha256, c.target, c.node_id)
                for c in got] == history_rows(pond, since)
        for globs in ("/a*/**", ["/*/b?", "/c*"], "/**/d[0-4]"):
            wanted = [c for c in got if matches(check_globs(globs), c)]
            assert list(pond.changes(since, globs)) == wanted


def test_globs_with_special_characters(local):
    pond, _ = local
    since = pond.version
    names = ["/a b+(1).csv", "/ünï.csv", "/x$y^z.txt", "/dot.in.name", "/back\\slash", "/q?mark", "/br[a]ce"]
    for name in names:
        pond.root.create_file_path(name, "x")
    got = list(pond.changes(since))
    for glob in ("/a b+(1).*", "/*.csv", "/ü*", "/x$y^z.txt", "/dot.in.*", "/back\\slash", "/q?mark", "/br[[]a]ce",
                 "/br?a?ce", "/[!a]*", "/**"):
        wanted = [c.path for c in got if matches(check_globs(glob), c)]
        assert [c.path for c in pond.changes(since, glob)] == wanted, glob
        assert wanted, glob
