"""Model-based test (issue 7): a pond and a plain in-memory model driven side by side by hypothesis.

The model is a dict from path to entry, with os.rename's rules written out by hand. After every
step the pond, a second Pond object on the same folder (never refreshed) and the model agree,
and ``pond.version`` counts exactly the model's commits. Time travel checks ``pond.at(v)``
against the model's snapshot at v; the teardown checks every version and ``pond.check()``.
CI runs a modest number of examples; TINYLOGSQL_NIGHTLY=1 runs many more.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from model_helpers import (
    Expected,
    State,
    listing,
    model_apply,
    normalise,
    ops,
    pond_apply,
)
from reliability_helpers import scale

from tinylogsql import Pond


class Boom(Exception):
    """Raised inside a transaction block on purpose."""


class PondModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="tinylogsql-model-"))
        self.pond = Pond.create(self.folder / "pond")
        self.other = Pond.open(self.folder / "pond")  # a second Pond, never refreshed by hand
        self.model: State = {}
        self.history: list[State] = [{}]  # the model at every Delta version

    def _run(self, op_list: list[tuple], in_txn: bool, boom: bool = False) -> None:  # type: ignore[type-arg]
        draft = dict(self.model)
        expected: Expected | None = None
        changed = False
        try:
            for op in op_list:
                changed |= model_apply(draft, op)
        except Expected as exc:
            expected = exc
        before = self.pond.version
        try:
            if in_txn:
                with self.pond.transaction(message="model txn"):
                    for op in op_list:
                        pond_apply(self.pond, op)
                    if boom:
                        raise Boom()
            else:
                pond_apply(self.pond, op_list[0])
        except Boom:
            assert boom and expected is None
            assert self.pond.version == before
            return
        except Exception as exc:
            assert expected is not None, f"{op_list}: pond raised {exc!r}, model expected success"
            assert isinstance(exc, expected.kind), f"{op_list}: pond raised {exc!r}, model expected {expected}"
            if expected.code is not None:
                assert exc.errno == expected.code  # type: ignore[attr-defined]
            assert self.pond.version == before, "a rejected op changed the version"
            return
        assert expected is None, f"{op_list}: pond accepted, model expected {expected.kind.__name__}"
        assert not boom
        self.model = draft
        if changed:
            self.history.append(dict(draft))
        assert self.pond.version == len(self.history) - 1

    @rule(op=ops)
    def single_op(self, op: tuple) -> None:  # type: ignore[type-arg]
        self._run([op], in_txn=False)

    @rule(op_list=st.lists(ops, min_size=1, max_size=4))
    def transaction(self, op_list: list[tuple]) -> None:  # type: ignore[type-arg]
        self._run(op_list, in_txn=True)

    @rule(op_list=st.lists(ops, min_size=1, max_size=3))
    def transaction_that_raises(self, op_list: list[tuple]) -> None:  # type: ignore[type-arg]
        self._run(op_list, in_txn=True, boom=True)

    @rule()
    def reopen(self) -> None:
        self.pond.close()
        self.pond = Pond.open(self.folder / "pond")

    @precondition(lambda self: len(self.history) > 1)
    @rule(data=st.data())
    def time_travel(self, data: st.DataObject) -> None:
        version = data.draw(st.integers(0, len(self.history) - 1), label="version")
        assert normalise(listing(self.pond.at(version))) == normalise(self.history[version])

    @invariant()
    def agree(self) -> None:
        want = normalise(self.model)
        assert normalise(listing(self.pond)) == want
        assert normalise(listing(self.other)) == want
        assert self.other.version == len(self.history) - 1

    def teardown(self) -> None:
        try:
            for version, snapshot in enumerate(self.history):
                assert normalise(listing(self.pond.at(version))) == normalise(snapshot), version
            report = self.pond.check()
            assert report.ok, report.problems
        finally:
            self.pond.close()
            self.other.close()
            shutil.rmtree(self.folder, ignore_errors=True)


PondModel.TestCase.settings = settings(
    max_examples=scale(25, 1000),
    stateful_step_count=scale(20, 60),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestPondModel = PondModel.TestCase
