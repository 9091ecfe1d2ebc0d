"""The red-team harness of issue 12 (no tests here; tests/test_redteam.py runs it).

- ``pondkit``: the prepared pond (several versions, a blob, later and removed files with markers),
  the host files and the environment marker, digests of a pond on disk, the canonical answers.
- ``attacks``: the attack corpus, by class, with the fast CI subset marked.
- ``runner``: what runs inside the per-attack process (forked from a forkserver with modules preloaded).
- ``harness``: the parent side: a TCP listener on 127.0.0.1, the RSS sampler, the verdict per attack.
"""
