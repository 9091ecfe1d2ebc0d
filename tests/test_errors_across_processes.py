"""Errors raised in a worker process reach the caller as the same class with the same fields
(a process pool pickles them): a path error keeps errno and path, a merge conflict its rows."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest
from proc_helpers import read_in_fresh_process

from tinylogsql import MergeConflictError, Pond, errors


def test_a_path_error_from_a_pool_worker_arrives_as_itself(tmp_path):
    path = str(tmp_path / "pond")
    Pond.create(path).close()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        with pytest.raises(errors.PathNotFoundError) as caught:
            pool.submit(read_in_fresh_process, path, "/missing.txt").result()
    assert caught.value.filename == "/missing.txt" and caught.value.errno == 2
    assert isinstance(caught.value, FileNotFoundError)


@pytest.mark.parametrize("cls", [cls for cls in vars(errors).values()
                                 if isinstance(cls, type) and issubclass(cls, errors._PathOSError)])
def test_every_path_error_pickles_with_its_path_and_detail(cls):
    error = cls("/a/b", "a detail")
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.filename, again.errno, str(again)) == (cls, "/a/b", error.errno, str(error))


def test_a_merge_conflict_error_pickles_with_its_conflicts(tmp_path):
    with Pond.create(str(tmp_path / "pond")) as pond:
        pond.root.create_file_path("/x", b"base")
        feature = pond.create_branch("feature")
        feature.root.write_file_path("/x", b"theirs")
        pond.root.write_file_path("/x", b"ours")
        with pytest.raises(MergeConflictError) as caught:
            pond.merge("feature")
        feature.close()
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.conflicts == caught.value.conflicts and [c.path for c in again.conflicts] == ["/x"]
    assert str(again) == str(caught.value)
