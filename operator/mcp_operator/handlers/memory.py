"""What the operator remembers about each object between reconciles, as named data.

Nothing here is needed for correctness after a restart: a reconcile recomputes everything from
what it observes. The memory only saves requests (a child applied with the same content is not
applied again, a status already written is not written again, an Event already posted is not
posted again) and paces registry retries. It is dropped when the object is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp_operator.render.drift import Applied
from mcp_operator.render.verify import Attempt, Pacing

Key = tuple[str, str, str]  # (kind, namespace, name)


@dataclass
class Memory:
    """One MCPPackage's or MCPServer's memory, valid for one uid."""

    uid: str
    written: dict[str, Any] | None = None  # the status last written
    children: dict[str, Applied] = field(default_factory=dict)  # kind -> what was last applied
    owners_checked: set[str] = field(default_factory=set)  # child kinds known to be ours
    posted: tuple[str, str] | None = None  # (reason, message) of the last Event posted
    failed_source: str | None = None  # MCPPackage: the source a registry attempt failed for
    retry_at: float | None = None  # MCPPackage: no registry attempt for failed_source before this
    attempts: int = 0  # MCPPackage: failed attempts for failed_source
    verifying: bool = False  # MCPServer: an MCP handshake is in flight (handlers/verify.py)
    verify_attempt: Attempt | None = None  # MCPServer: a finished handshake not written yet
    verify_pacing: Pacing = field(default_factory=Pacing)  # MCPServer: failed handshakes, for the backoff
    # MCPServer: the reinstall (token/outcome) whose Event was posted: a reconcile retried after an
    # API error decides the same reinstall again, and must not announce it again.
    announced: str | None = None
    # MCPPackage: request annotations acted on, until a watch event shows them gone (a reconcile on
    # a copy from before the removal must not act on the same request twice).
    consumed: dict[str, str] = field(default_factory=dict)
    acted: dict[str, str] = field(default_factory=dict)  # acted on, removal not yet done


class Memories:
    def __init__(self) -> None:
        self._items: dict[Key, Memory] = {}

    def get(self, key: Key, uid: str) -> Memory:
        """The memory of this object; a new one when the name now belongs to another uid."""
        memory = self._items.get(key)
        if memory is None or memory.uid != uid:
            memory = self._items[key] = Memory(uid=uid)
        return memory

    def peek(self, key: Key) -> Memory | None:
        return self._items.get(key)

    def forget(self, key: Key) -> None:
        self._items.pop(key, None)

    def keys(self) -> list[Key]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)
