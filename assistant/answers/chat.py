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
from assistant.index import ConversationStore
from assistant.search import places

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
                       "To From With By As At According Sources Source It Its They Their He His She "
                       "Her We I This That These Those There Here Also But However".split())
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")


def names(text: str) -> list[str]:
    """Runs of capitalised words that are not question words ("North Korea", "Putin")."""
    out = []
    for m in _NAME.finditer(text):
        words = [w for w in m.group().split() if w not in _NOT_NAMES]
        if words:
            out.append(" ".join(words))
    return out


@dataclass(frozen=True)
class Turn:
    """An earlier turn as follow-ups read it: the standalone question and the answer's text
    (its first quote; empty when it abstained)."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class FollowUp:
    """What a chat message stands for: a standalone question, or a question back to the user
    when it leans on something the conversation does not name."""

    question: str
    ask_back: str | None = None


# "that country", "this company", "the man": a reference to an entity of a kind.
_THAT_KIND = re.compile(
    r"\b(?:that|this|the same)\s+(?P<kind>country|nation|state|city|company|firm|group|"
    r"organi[sz]ation|team|man|woman|person|leader|president)\b", re.IGNORECASE)
_PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her|hers)\b", re.IGNORECASE)
_THING_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|theirs)\b", re.IGNORECASE)
_PLACE_KINDS = frozenset("country nation state city".split())
_PERSON_KINDS = frozenset("man woman person leader president".split())


def _fold(text: str) -> str:
    return text.casefold()


def _answer_names(turn: Turn) -> list[str]:
    """Names the answer brings that its question did not (the entity a "they" may mean)."""
    asked = _fold(turn.question)
    return [n for n in names(turn.answer) if _fold(n) not in asked]


def _of_kind(candidates: list[str], kind: str) -> list[str]:
    gazetteer = places()
    if kind in _PLACE_KINDS:
        return [n for n in candidates if _fold(n) in gazetteer]
    if kind in _PERSON_KINDS:
        return [n for n in candidates if len(n.split()) >= 2 and _fold(n) not in gazetteer]
    return [n for n in candidates if _fold(n) not in gazetteer]


def _replace(text: str, match: re.Match[str], new: str) -> str:
    return text[: match.start()] + new + text[match.end():]


def standalone_question(message: str, previous: list[str] | list[Turn]) -> str:
    """The question a follow-up stands for (its text only; see `resolve`)."""
    return resolve(message, previous).question


def resolve(message: str, previous: list[str] | list[Turn]) -> FollowUp:
    """Read a follow-up against the last turn's question and the names its answer gave.

    "And Iran?" after "What does India buy from Russia?" becomes "What does Iran buy from
    Russia?". "Is that country also building a plant?" after "Who supplies drones to Russia?"
    (answered with Iran) becomes "Is Iran also building a plant?"; "What do they get in
    return?" becomes "What do Iran get in return? (Russia)". A follow-up whose "they" or "that
    country" nothing in the last turn can stand for gets a question back instead of a guess.
    """
    if not isinstance(message, str) or not message.strip():
        raise QueryError("the message is empty")
    message = message.strip()
    if not previous:
        return FollowUp(message)
    last = previous[-1] if isinstance(previous[-1], Turn) else Turn(str(previous[-1]))
    m = _ELLIPTICAL.match(message)
    if m:
        new = m.group("rest").rstrip(" \t\n?.!").strip()
        old = names(last.question)
        if old:
            return FollowUp(last.question.replace(old[0], new, 1))
        return FollowUp(f"{new} {last.question}")
    if len(message.split()) > 16:
        return FollowUp(message)  # a long message says what it means
    from_answer = _answer_names(last)
    from_question = [n for n in names(last.question) if _fold(n) not in _fold(message)]
    kind = _THAT_KIND.search(message)
    if kind:
        word = kind.group("kind").lower()
        pick = _of_kind(from_answer, word) or _of_kind(from_question, word)
        if not pick:
            return FollowUp(message, ask_back=f"Which {word} do you mean? Please ask again "
                                              f"with its name.")
        return FollowUp(_replace(message, kind, pick[0]))
    pronoun = _PERSON_PRONOUN.search(message) or _THING_PRONOUN.search(message)
    if pronoun:
        person = pronoun.re is _PERSON_PRONOUN
        pick = (_of_kind(from_answer, "person") if person else from_answer) or from_question
        if not pick:
            return FollowUp(message, ask_back=f"Who or what do you mean by \u201c{pronoun.group()}"
                                              f"\u201d? Please ask again with the name.")
        referent = pick[0]
        context = [n for n in from_question if n != referent]
        if pronoun.group().lower() in ("his", "her", "its", "their", "theirs", "hers"):
            referent += "\u2019s"
        question = _replace(message, pronoun, referent)
        return FollowUp(f"{question} ({', '.join(context)})" if context else question)
    return FollowUp(message)


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

    @property
    def history(self) -> list[Turn]:
        """The turns as follow-ups read them."""
        return [Turn(t["question"], t["answer"]) for t in self.turns]

    def add(self, message: str, question: str, answer: Any) -> None:
        """Record one turn."""
        self.turns.append({"message": message, "question": question,
                           "abstained": answer.abstained,
                           "answer": answer.quotes[0].text if answer.quotes else ""})
        del self.turns[:-MAX_TURNS]
        self.touched = time.monotonic()


class Conversations:
    """Conversations with an idle time-out and a size cap (oldest dropped first): in memory,
    or in a shared `store` (several replicas, restarts) when one is given."""

    def __init__(self, *, ttl: float, capacity: int, store: ConversationStore | None = None) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.store = store
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, conversation_id: str | None) -> Conversation:
        """The conversation with this id, or a new one (an unknown or expired id starts afresh
        under that id, so a client can keep using the id it holds)."""
        now = time.monotonic()
        if conversation_id and len(conversation_id) > 100:
            raise QueryError("conversation_id is too long (100 characters at most)")
        if self.store is not None:
            cid = conversation_id or uuid.uuid4().hex
            turns = self.store.load(cid, ttl=self.ttl) if conversation_id else None
            return Conversation(id=cid, turns=turns or [])
        with self._lock:
            for cid in [c for c, v in self._items.items() if now - v.touched > self.ttl]:
                del self._items[cid]
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

    def save(self, conv: Conversation) -> None:
        """Keep a conversation's turns (in memory they are kept already)."""
        if self.store is not None:
            self.store.save(conv.id, conv.turns, ttl=self.ttl, capacity=self.capacity)
