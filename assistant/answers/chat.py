"""Multi-turn chat: conversations kept in memory, follow-ups rewritten into standalone questions."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from assistant.errors import QueryError

MAX_TURNS = 20  # turns kept per conversation
# The rest is taken greedily and its trailing punctuation stripped afterwards: a lazy `.+?`
# before `[\s?.!]*$` backtracks quadratically on a long run of spaces.
_ELLIPTICAL = re.compile(
    r"^\s*(?:and|what about|how about|and what about|what of|same for|and for)\s+(?P<rest>.+)$",
    re.IGNORECASE | re.DOTALL)
_PRONOUN = re.compile(r"\b(?:he|she|it|they|them|his|her|its|their|there|that|this|these|those)\b",
                      re.IGNORECASE)
# Capitalised words that open a question are not names.
_NOT_NAMES = frozenset("What Which Who Whom Whose When Where Why How Is Are Was Were Do Does Did "
                       "Can Could Should Would Will Has Have Had And But Or The A An In On Of For "
                       "To From With By".split())
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")


def names(text: str) -> list[str]:
    """Runs of capitalised words that are not question words ("North Korea", "Putin")."""
    out = []
    for m in _NAME.finditer(text):
        words = [w for w in m.group().split() if w not in _NOT_NAMES]
        if words:
            out.append(" ".join(words))
    return out


def standalone_question(message: str, previous: list[str]) -> str:
    """The question a follow-up stands for, given the conversation's earlier questions.

    "And Iran?" after "What does India buy from Russia?" becomes "What does Iran buy from
    Russia?": the first name of the last question is swapped for the new one. A follow-up that
    leans on a pronoun ("When did he visit?") gets the last question's names appended. Anything
    else is taken as it is.
    """
    if not isinstance(message, str) or not message.strip():
        raise QueryError("the message is empty")
    message = message.strip()
    if not previous:
        return message
    last = previous[-1]
    m = _ELLIPTICAL.match(message)
    if m:
        new = m.group("rest").rstrip(" \t\n?.!").strip()
        old = names(last)
        if old:
            return last.replace(old[0], new, 1)
        return f"{new} {last}"
    if _PRONOUN.search(message) and len(message.split()) <= 12:
        context = [n for n in names(last) if n not in message]
        if context:
            return f"{message} ({', '.join(context)})"
    return message


@dataclass
class Conversation:
    """The turns of one conversation."""

    id: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)

    @property
    def questions(self) -> list[str]:
        """The standalone questions asked so far."""
        return [t["question"] for t in self.turns]

    def add(self, message: str, question: str, answer: Any) -> None:
        """Record one turn."""
        self.turns.append({"message": message, "question": question,
                           "abstained": answer.abstained})
        del self.turns[:-MAX_TURNS]
        self.touched = time.monotonic()


class Conversations:
    """In-memory conversations with an idle time-out and a size cap (oldest dropped first)."""

    def __init__(self, *, ttl: float, capacity: int) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, conversation_id: str | None) -> Conversation:
        """The conversation with this id, or a new one (an unknown or expired id starts afresh
        under that id, so a client can keep using the id it holds)."""
        now = time.monotonic()
        with self._lock:
            for cid in [c for c, v in self._items.items() if now - v.touched > self.ttl]:
                del self._items[cid]
            if conversation_id and len(conversation_id) > 100:
                raise QueryError("conversation_id is too long (100 characters at most)")
            cid = conversation_id or uuid.uuid4().hex
            conv = self._items.get(cid)
            if conv is None:
                conv = Conversation(id=cid)
                self._items[cid] = conv
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
            self._items.move_to_end(cid)
            conv.touched = now
            return conv
