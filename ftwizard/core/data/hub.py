"""Hugging Face Hub datasets, read through the `datasets` library (its cache when offline)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ftwizard.core.data.sources import Item, Row
from ftwizard.core.errors import UserError
from ftwizard.core.network import hub_host, hub_reachable


def hub_items(dataset_id: str, name: str | None, split: str) -> Iterator[Item]:
    """Rows of ``dataset_id`` (config ``name``, ``split``); a clear UserError if unreachable."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
    unreachable = not offline and not hub_reachable()
    if unreachable:  # only the cache can answer: ask it at once, not after ~25 s of retries
        os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets  # heavy: only when a Hub id is asked for

    if unreachable:  # read at import; set again in case another caller imported it first
        datasets.config.HF_HUB_OFFLINE = True
    try:
        dataset = datasets.load_dataset(dataset_id, name, split=split)
    except Exception as exc:  # DatasetNotFoundError, ConnectionError, ValueError for bad splits...
        if offline:
            where = "not in the local datasets cache and the Hub is offline (HF_HUB_OFFLINE=1)"
        elif unreachable:
            where = f"not in the local datasets cache, and {hub_host()} cannot be reached"
        else:
            where = f"could not be loaded ({type(exc).__name__}: {exc})"
        raise UserError(
            f"Dataset `{dataset_id}`{f' ({name})' if name else ''} [{split}]: {where}.",
            hint="Give a local file or folder, or load the dataset once while online.",
        ) from None
    for number, row in enumerate(dataset, start=1):
        yield Row(f"{dataset_id} [{split}], row {number}", dict(row))
