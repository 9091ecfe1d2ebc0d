"""Processes for the change-feed tests (run as ``python feed_helpers.py MODE ...``: spawned, never forked).

- ``write POND N DELAY``: N commits, each creating ``/in/f<i>.csv``, DELAY seconds apart.
- ``consume POND NAME [drain]``: a pipeline on subscription NAME (globs ``/in/**``): per pending
  batch, ONE transaction writes ``/out/<version>-<random>.txt`` (the batch's input paths, one per
  line) and acks the batch. Prints ``ready`` once subscribed; with ``drain`` it exits when nothing is
  pending, else it runs until killed. A ConflictError (a competing consumer acked first) is counted
  and the consumer re-reads.
"""

from __future__ import annotations

import sys
import time
import uuid

from tinylogsql import ConflictError, Pond

INPUTS = "/in/**"


def write(path: str, count: int, delay: float) -> None:
    with Pond.open(path, author="writer") as pond:
        for index in range(count):
            time.sleep(delay)
            pond.root.create_file_path(f"/in/f{index}.csv", f"row {index}\n")


def consume(path: str, name: str, drain: bool) -> None:
    conflicts = 0
    with Pond.open(path, author=f"consumer-{name}") as pond:
        sub = pond.subscription(name, INPUTS)
        print("ready", flush=True)
        while True:
            pending = sub.pending(limit=1)
            if not pending:
                if drain:
                    break
                time.sleep(0.01)
                continue
            batch = pending[0]
            inputs = "".join(f"{change.path}\n" for change in batch.changes)
            try:
                with pond.transaction(message=f"process {batch.version}"):
                    pond.root.create_file_path(f"/out/{batch.version}-{uuid.uuid4().hex[:8]}.txt", inputs)
                    sub.ack(batch.version)
            except ConflictError:
                conflicts += 1
        print(f"done conflicts={conflicts}", flush=True)


if __name__ == "__main__":
    mode, pond_path = sys.argv[1], sys.argv[2]
    if mode == "write":
        write(pond_path, int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "consume":
        consume(pond_path, sys.argv[3], len(sys.argv) > 4 and sys.argv[4] == "drain")
    else:
        raise SystemExit(f"unknown mode {mode}")
