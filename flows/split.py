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


def in_rollout(experiment: str, shopper_key: str, rollout: float) -> bool:
    """Whether a shopper enters an experiment that runs on a `rollout` share of shoppers.

    A hash of its own (not the variant bucket), so who is in does not bias which variant they
    get; and a threshold on a fixed number, so widening the share keeps everyone already in.
    """
    return bucket(f"{experiment}\x1frollout", shopper_key) < rollout * BUCKETS


def choose_variant(split: SplitSpec, shopper_key: str) -> Variant:
    total = sum(v.weight for v in split.variants)
    point = bucket(split.experiment, shopper_key) / BUCKETS * total
    running = 0.0
    for variant in split.variants:
        running += variant.weight
        if point < running:
            return variant
    return split.variants[-1]
