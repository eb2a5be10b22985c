"""`--from-store`: the inputs callers actually sent a persona, as eval items.

Read from the store (`ATTACHE_DATABASE_URL`, else SQLite in `ATTACHE_DATA_DIR`), newest
first, filtered by `--since` and `--label`, at most `--limit` distinct inputs (the same news
sent twice is one item). Rows kept without their text (`ATTACHE_STORE_TEXT=false`,
`Cache-Control: no-store`) cannot be replayed and are counted as skipped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from service.eval.suite import Item
from service.settings import Settings
from service.store import Store, StoreOperationFailed, open_store
from service.store.database import OFF, database_url

PAGE = 100
SUITE = "store"


class StoreNotReadable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StoreItems:
    items: list[Item]
    skipped_without_text: int


async def items_from_store(
    settings: Settings, agent: str, *, since: dt.datetime | None, label: str | None, limit: int
) -> StoreItems:
    url = database_url(settings)
    if url == OFF:
        raise StoreNotReadable("ATTACHE_DATABASE_URL is `off`: there is no store to replay from")
    store = await open_store(url, pool_size=1)
    try:
        return await _read(store, agent, since=since, label=label, limit=limit)
    except StoreOperationFailed as exc:
        raise StoreNotReadable(f"{store.location}: the store cannot be read ({exc})") from None
    finally:
        await store.close()


async def _read(store: Store, agent: str, *, since: dt.datetime | None, label: str | None, limit: int) -> StoreItems:
    if store.revision is None:
        raise StoreNotReadable(f"{store.location}: the store cannot be reached")
    items: dict[str, Item] = {}
    skipped = 0
    after = None
    while len(items) < limit:
        rows = await store.page(
            caller=None,
            agent=agent,
            version=None,
            outcome=None,
            since=since,
            until=None,
            after=after,
            limit=PAGE,
            label=label,
        )
        for row in rows:
            if row.context is None:
                skipped += 1
                continue
            if row.input_sha256 in items or len(items) >= limit:
                continue
            items[row.input_sha256] = Item(
                suite=SUITE,
                id=f"{row.created_at:%Y%m%d-%H%M%S}-{row.id[:8]}",
                context=row.context,
                question=row.question,
                source=row.source,
                as_of=dt.date.fromisoformat(row.as_of) if row.as_of else None,
                origin=f"store:{row.id}",
            )
        if len(rows) < PAGE:
            break
        after = (rows[-1].created_at, rows[-1].id)
    return StoreItems(list(items.values()), skipped)
