"""Sticky A/B assignment: the same shopper lands in the same variant on every process, forever.

The bucket is a hash of (experiment, shopper key), never Python's randomised `hash()`, so it
survives restarts and is the same on every host.
"""

from __future__ import annotations

import hashlib

from flows.model import SplitSpec, Variant

BUCKETS = 10_000


def bucket(experiment: str, shopper_key: str) -> int:
    digest = hashlib.blake2b(f"{experiment}\x1f{shopper_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def choose_variant(split: SplitSpec, shopper_key: str) -> Variant:
    total = sum(v.weight for v in split.variants)
    point = bucket(split.experiment, shopper_key) / BUCKETS * total
    running = 0.0
    for variant in split.variants:
        running += variant.weight
        if point < running:
            return variant
    return split.variants[-1]
