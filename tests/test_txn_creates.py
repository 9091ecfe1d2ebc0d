"""Creates inside one transaction (parentcache.py): a directory a path led to is remembered for the
next create there, so these tests change that directory between creates (renamed, removed, made
again, replaced by a file or a symlink, moved by another thread's commit) and check that every
create lands, or fails, as it does when each op is its own commit."""

from __future__ import annotations

import threading

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from model_helpers import listing, normalise, ops, pond_apply

from tinylogsql import NotADirError, PathExistsError, PathNotFoundError, Pond, PondError


def test_a_parent_changed_in_the_transaction_is_walked_again(pond):
    root = pond.root
    with pond.transaction():
        root.create_dir_path("a")
        root.create_file_path("a/x", b"1")
        root.rename("a", "b")  # the cached "a" is gone: the next create under it fails as alone
        with pytest.raises(PathNotFoundError):
            root.create_file_path("a/y", b"2")
        root.create_file_path("b/y", b"2")
        root.create_file_path("/b/z", b"3")  # absolute: the same directory
        root.remove("b", recursive=True)
        with pytest.raises(PathNotFoundError):
            root.create_file_path("b/w", b"4")
        root.create_dir_path("b")  # made again: a new node, and the create lands in it
        root.create_file_path("b/w", b"4")
        root.create_dir_path("c")
        root.create_file_path("c/x", b"5")
        root.remove("c", recursive=True)
        root.create_file_path("c", b"now a file")
        with pytest.raises(NotADirError):
            root.create_file_path("c/y", b"6")
        root.create_dir_path("d")
        root.create_file_path("d/x", b"7")
        root.rename("d", "e")
        root.create_symlink_path("d", "e")  # "d" now leads to "e" through a link
        root.create_file_path("d/y", b"8")
        with pytest.raises(PathExistsError):
            root.create_file_path("e/y", b"again")
        root.create_dir_path("p/q", parents=True)
        root.create_file_path("p/q/x", b"9")
        root.rename("p", "r")  # an ancestor moves
        with pytest.raises(PathNotFoundError):
            root.create_file_path("p/q/y", b"10")
        root.create_file_path("r/q/y", b"10")
    want = {"b": ("dir", None), "b/w": ("file", b"4"), "c": ("file", b"now a file"), "d": ("symlink", "e"),
            "e": ("dir", None), "e/x": ("file", b"7"), "e/y": ("file", b"8"), "r": ("dir", None),
            "r/q": ("dir", None), "r/q/x": ("file", b"9"), "r/q/y": ("file", b"10")}
    assert listing(pond) == want
    with Pond.open(pond.uri) as fresh:
        assert listing(fresh) == want


def test_a_directory_handle_removed_in_the_transaction(pond):
    root = pond.root
    folder = root.create_dir_path("h")
    with pond.transaction():
        folder.create_file_path("x", b"1")
        root.remove("h", recursive=True)
        with pytest.raises(PathNotFoundError):
            folder.create_file_path("y", b"2")
        root.create_dir_path("h")  # another node under the same name: the handle still names the old one
        with pytest.raises(PathNotFoundError):
            folder.create_file_path("y", b"2")
    assert listing(pond) == {"h": ("dir", None)}


def test_a_committed_parent_removed_by_another_thread_mid_transaction(pond):
    """Another thread's commit moves the engine on: the next create re-checks what the transaction
    read, and fails as the per-op create would, with nothing of the transaction kept."""
    root = pond.root
    root.create_dir_path("shared")
    root.create_dir_path("other")
    before = pond.version

    def commit_in_thread(op) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=op)
        thread.start()
        thread.join()

    with pond.transaction():  # an unrelated commit: the transaction moves on and keeps creating
        root.create_file_path("shared/a", b"1")
        commit_in_thread(lambda: root.create_file_path("other/t", b"t"))
        root.create_file_path("shared/b", b"2")
    assert pond.version == before + 2
    for free in ("other/d", "other/c"):  # a name nothing took; one the transaction took and let go
        reached = []
        with pytest.raises(PathNotFoundError):
            with pond.transaction():
                root.create_file_path("other/c", b"3")
                root.remove("other/c")
                commit_in_thread(lambda: root.remove("other", recursive=True))
                root.create_file_path(free, b"4")  # fails here, as a per-op create would, not at the commit
                reached.append(free)
        assert not reached
        root.create_dir_path("other")
    assert listing(pond) == {"other": ("dir", None), "shared": ("dir", None), "shared/a": ("file", b"1"),
                             "shared/b": ("file", b"2")}


APPLY_IN = st.sampled_from(["relative", "absolute", "handle"])


def _apply(pond: Pond, op: tuple, how: str) -> None:  # type: ignore[type-arg]
    """test_model's op, its paths relative to the root, absolute, or through a handle on "a"."""
    if op[0] in ("create", "mkdir", "symlink") and how != "relative":
        path = op[1]
        if how == "absolute":
            op = (op[0], "/" + path, *op[2:])
        elif path.startswith("a/"):
            handle = pond.root.open_dir_path("a")
            if op[0] == "create":
                handle.create_file_path(path[2:], op[2])
                return
    pond_apply(pond, op)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(ops, APPLY_IN), min_size=1, max_size=40))
def test_ops_in_one_transaction_match_the_same_ops_one_commit_each(tmp_path_factory, steps):
    """Each op's outcome (its error class, or success) and the final tree are the same whether the
    ops run in one transaction (errors caught inside it) or each as its own commit."""
    folder = tmp_path_factory.mktemp("txn-creates")
    outcomes: list[list[str]] = [[], []]
    trees = []
    for index, in_txn in enumerate((False, True)):
        with Pond.create(folder / f"pond{index}") as pond:
            def run(pond: Pond = pond, seen: list[str] = outcomes[index]) -> None:
                for op, how in steps:
                    try:
                        _apply(pond, op, how)
                        seen.append("ok")
                    except (PondError, OSError) as exc:
                        seen.append(type(exc).__name__)

            if in_txn:
                with pond.transaction():
                    run()
            else:
                run()
            trees.append(normalise(listing(pond)))
    assert outcomes[1] == outcomes[0]
    assert trees[1] == trees[0]
