"""A history question answered by Daft, run as its own process (Daft's runner is set once per process).

    python tests/daft_job.py RUNNER POND PATH
RUNNER is ``native`` (Daft's local runner) or ``ray`` (a local Ray cluster of 2 CPUs). The pond's
storage options come from the AWS_* environment. Prints one JSON line: the runner used, the
pond version, and the answer (every content version of the file at PATH, and ops per commit).
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("DAFT_ANALYTICS_ENABLED", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main(runner: str, pond_uri: str, path: str) -> None:
    import daft

    from tinylogsql import Pond
    from tinylogsql.distributed import commits, file_versions

    started = time.perf_counter()
    if runner == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        daft.set_runner_ray()
    ray_up = time.perf_counter() - started
    with Pond.open(pond_uri) as pond:
        log = pond.to_daft()
        versions = file_versions(log, path).collect().to_pylist()
        per_commit = commits(log).select("version", "ops").collect().to_pylist()
        version = pond.version
    answer = {
        "runner": daft.get_or_create_runner().name,
        "ray_nodes": len(__import__("ray").nodes()) if runner == "ray" else 0,
        "version": version,
        "file_versions": [{"version": v["version"], "size": v["size"], "sha256": v["sha256"]} for v in versions],
        "commits": per_commit,
        "startup_s": round(ray_up, 2),
        "total_s": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(answer, default=str))
    sys.stdout.flush()
    if runner == "ray":
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
