"""Claims made from real sentences: true paraphrases and false perturbations.

    .venv/bin/python scripts/perturb.py [--seeds ../shared/seeds] [--out eval/seeds-perturbed.jsonl]

Used two ways:
- `scripts/train_stance.py` turns sentences of the evaluation archives (news, SciFact) into
  training pairs: each perturbation against its source sentence → refutes; each paraphrase and
  the sentence itself → supports;
- run as a script, it writes the perturbed-claims evaluation set of the sample articles
  (`assistant eval perturbed`): every sentence of the seeds with a checkable detail gives true
  paraphrases (label supported) and false perturbations (label refuted). Replacement names,
  numbers and dates never occur anywhere in the seeds, so each false claim really is false
  there.

Perturbations (false): a number scaled or shifted, a year or month moved, a named person, place
or organisation swapped for another of the same kind, the main verb negated (or its negation
dropped), a modality turned ("in person" → "virtually", "denied" → "admitted", "joined" →
"refused to join", "rose" → "fell"), a direction turned ("enhances" → "suppresses", "higher"
→ "lower"), doer and receiver swapped. Paraphrases (true): leading
connectives and trailing clauses dropped, attribution dropped, numbers written another way
("$240 billion" → "240 billion dollars", "3rd" → "third"). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.claims.details import DEFAULT_MODEL, _parse_number  # noqa: E402
from assistant.claims.polarity import negated_before  # noqa: E402
from assistant.text import sentence_spans  # noqa: E402

_ORDINAL_WORDS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth "
                  "eleventh twelfth").split()
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
_MONTHS = ("January February March April June July August September October November "
           "December").split()
# Swapped modality words: each word of one side to a typical word of the other.
_MODAL_SWAPS = {
    "in person": "virtually", "personally": "virtually", "virtually": "in person",
    "remotely": "in person", "by video": "in person", "online": "in person",
    "admitted": "denied", "admits": "denies", "admit": "deny", "acknowledged": "denied",
    "confirmed": "denied", "confirms": "denies", "denied": "admitted", "denies": "admits",
    "deny": "admit", "rejected": "accepted",
    "joined": "refused to join", "joins": "refuses to join", "signed": "refused to sign",
    "agreed": "refused", "accepted": "rejected", "approved": "vetoed", "backed": "opposed",
    "supported": "opposed", "refused": "agreed", "declined": "agreed", "vetoed": "approved",
    "opposed": "supported", "won": "lost", "wins": "loses", "lost": "won", "loses": "wins",
    "rose": "fell", "fell": "rose", "increased": "decreased", "decreased": "increased",
    "grew": "shrank", "shrank": "grew", "surged": "plunged", "plunged": "surged", "jumped": "dropped",
    "dropped": "jumped", "rises": "falls", "falls": "rises",
}
# A change turned the other way ("enhances" → "suppresses", "higher" → "lower"): science and
# economics state most findings as a direction, and a claim with the direction turned shares
# almost every word with its source.
_OPPOSITE_PAIRS = (
    ("increase", "decrease"), ("increases", "decreases"), ("increasing", "decreasing"),
    ("increased", "reduced"), ("higher", "lower"), ("enhances", "suppresses"),
    ("enhanced", "suppressed"), ("promotes", "inhibits"), ("promoted", "inhibited"),
    ("activates", "inhibits"), ("activated", "inhibited"), ("induces", "prevents"),
    ("induced", "prevented"), ("upregulated", "downregulated"),
    ("upregulates", "downregulates"), ("elevated", "reduced"), ("expanded", "contracted"),
    ("gained", "lost"), ("strengthened", "weakened"), ("accelerated", "slowed"),
    ("raised", "lowered"), ("growth", "decline"), ("greater", "smaller"),
    ("positively", "negatively"),
)
# Turned back as well, except "inhibits" and "reduced": each is the opposite of two words.
_OPPOSITES = {a: b for a, b in _OPPOSITE_PAIRS} | {b: a for a, b in _OPPOSITE_PAIRS
                                                  if b not in ("inhibits", "reduced")}
_LEADING = re.compile(r"^(?:(?:Furthermore|Moreover|However|Meanwhile|Also|Besides|In addition|"
                      r"Still|Yet|But|And|So|Indeed|Instead|Nevertheless|Then|Now|Thus|"
                      r"Therefore|Overall|Notably|Separately)\b,?\s+)", re.IGNORECASE)
_ATTRIBUTION = re.compile(r",?\s+(?:according to [^,.;]+|(?:he|she|they|it|officials?) "
                          r"(?:said|says|added|noted)(?: on \w+)?)(?=[,.;]|$)", re.IGNORECASE)
_TRAILING = re.compile(r",\s+(?:which|while|albeit|although|though|as|after|before|but|where|"
                       r"who|when|with)\b.*$", re.IGNORECASE)
PRONOUN_START = re.compile(r"^(?:It|He|She|They|This|That|These|Those|Its|His|Her|Their|We|I)\b")


def load_nlp() -> Any:
    """The spaCy pipeline with its lemmatizer (negation needs base forms)."""
    import spacy

    return spacy.load(DEFAULT_MODEL)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "!", "?")) else text.rstrip(",;:- ") + "."


def _fmt_like(original: str, value: float) -> str:
    """`value` written the way `original` writes its number."""
    m = re.search(r"\d+(?:,\d{3})*(?:\.\d+)?", original)
    if not m:
        return original
    digits = m.group(0)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    new = f"{value:,.{decimals}f}" if "," in digits else f"{value:.{decimals}f}"
    return original[:m.start()] + new + original[m.end():]


def _number_value(ent: Any) -> float | None:
    m = re.search(r"\d+(?:,\d{3})*(?:\.\d+)?", ent.text)
    return float(m.group(0).replace(",", "")) if m else None


def perturbations(doc: Any, rng: random.Random, pools: dict[str, list[str]],
                  forbidden: str) -> list[tuple[str, str]]:
    """False claims made from one parsed sentence: (claim, kind)."""
    text = doc.text
    out: list[tuple[str, str]] = []
    low_forbidden = forbidden.lower()
    for ent in doc.ents:
        a, b = ent.start_char, ent.end_char
        if ent.label_ in ("MONEY", "PERCENT", "CARDINAL", "QUANTITY") and (v := _number_value(ent)):
            for _ in range(6):
                factor = rng.choice((1.25, 1.5, 2.0, 0.5, 0.6, 3.0))
                new_v = v * factor if v >= 1 else v + rng.choice((1, 2))
                if v == int(v):
                    new_v = float(round(new_v))
                new = _fmt_like(ent.text, new_v)
                digits = re.search(r"\d[\d,.]*", new)
                if new != ent.text and digits and digits.group(0) not in forbidden:
                    out.append((text[:a] + new + text[b:], "number"))
                    break
        elif ent.label_ == "DATE":
            year = re.search(r"\b(19[5-9]\d|20[0-3]\d)\b", ent.text)
            if year:
                for _ in range(6):
                    new = str(int(year.group(1)) + rng.choice((-3, -2, -1, 1, 2)))
                    if new not in forbidden:
                        s, e = a + year.start(1), a + year.end(1)
                        out.append((text[:s] + new + text[e:], "date"))
                        break
            month = next((m for m in _MONTHS if re.search(rf"\b{m}\b", ent.text)), None)
            if month:
                other = rng.choice([m for m in _MONTHS if m != month])
                out.append((text[:a] + ent.text.replace(month, other) + text[b:], "date"))
        elif ent.label_ in ("PERSON", "GPE", "ORG", "NORP") and ent.label_ in pools:
            choices = [p for p in pools[ent.label_] if p.lower() not in low_forbidden
                       and p.lower() not in ent.text.lower()]
            if choices:
                out.append((text[:a] + rng.choice(choices) + text[b:], "entity"))
    if (neg := _negate(doc)) is not None:
        out.append((neg, "negation"))
    low = text.lower()
    for word, swap in _MODAL_SWAPS.items():
        m = re.search(rf"\b{re.escape(word)}\b", low)
        if m:
            out.append((text[:m.start()] + swap + text[m.end():], "modality"))
            break
    if (d := _swap_direction(doc)) is not None:
        out.append((d, "direction"))
    for m in re.finditer(r"[A-Za-z]+", text):
        turned = _OPPOSITES.get(m.group(0).lower())
        # "did not increase" → "did not decrease" need not be false: leave negated words alone.
        if turned and not negated_before(text, m.start()):
            turned = turned.capitalize() if m.group(0)[0].isupper() else turned
            out.append((text[:m.start()] + turned + text[m.end():], "opposite"))
            break
    picked: dict[str, tuple[str, str]] = {}
    for c, k in out:  # one of each kind per sentence, chosen at random
        if c.strip() != text.strip() and (k not in picked or rng.random() < 0.5):
            picked[k] = (c, k)
    return [(c, k) for c, k in ((_sentence(c), k) for c, k in picked.values()) if checkable(c)]


def _negate(doc: Any) -> str | None:
    """The sentence with its main verb negated, or its negation removed."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or root.pos_ not in ("VERB", "AUX"):
        return None
    text = doc.text
    for child in root.children:
        if child.dep_ == "neg":  # drop "not" / "n't"
            s, e = child.idx, child.idx + len(child.text)
            return re.sub(r"\s{2,}", " ", text[:s].rstrip() + " " + text[e:].lstrip())
    aux = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.i < root.i]
    if aux:
        a = aux[0]
        return text[:a.idx + len(a.text)] + " not" + text[a.idx + len(a.text):]
    if root.lemma_ == "be":
        return text[:root.idx + len(root.text)] + " not" + text[root.idx + len(root.text):]
    if root.tag_ in ("VBD", "VBZ", "VBP"):
        helper = {"VBD": "did not", "VBZ": "does not", "VBP": "do not"}[root.tag_]
        return text[:root.idx] + f"{helper} {root.lemma_}" + text[root.idx + len(root.text):]
    return None


def _swap_direction(doc: Any) -> str | None:
    """Doer and receiver entities of the main verb swapped ("Iran supplies Russia")."""
    ents = [e for e in doc.ents if e.label_ in ("PERSON", "GPE", "ORG", "NORP")]
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or len(ents) < 2:
        return None

    def ent_of(tok: Any) -> Any:
        return next((e for e in ents if e.start <= tok.i < e.end), None)

    doer = next((ent_of(c) for c in root.children if c.dep_ == "nsubj" and ent_of(c)), None)
    receiver = next((ent_of(c) for c in root.children if c.dep_ in ("dobj", "dative")
                     and ent_of(c)), None)
    if receiver is None:
        for c in root.children:
            if c.dep_ == "prep" and c.text.lower() in ("to", "with", "from"):
                receiver = next((ent_of(g) for g in c.children if ent_of(g)), None)
                if receiver:
                    break
    if doer is None or receiver is None or doer.text == receiver.text:
        return None
    (x, y) = sorted((doer, receiver), key=lambda e: e.start_char)
    t = doc.text
    return (t[:x.start_char] + y.text + t[x.end_char:y.start_char] + x.text + t[y.end_char:])


def paraphrases(doc: Any, rng: random.Random) -> list[tuple[str, str]]:
    """True claims made from one parsed sentence, each stating a subset of its details."""
    text = doc.text.strip()
    out: list[tuple[str, str]] = []
    trimmed = _LEADING.sub("", text)
    trimmed = _ATTRIBUTION.sub("", trimmed)
    if trimmed != text:
        out.append((trimmed, "trimmed"))
    clause = _TRAILING.sub("", trimmed)
    if clause != trimmed and len(clause.split()) >= 5:
        out.append((clause, "clause"))
    for part in _clauses(doc):
        if part != text and len(part.split()) >= 5:
            out.append((part, "clause"))
    for ent in doc.ents:
        new = _reword_number(ent.text, ent.label_)
        if new and new != ent.text:
            out.append((text[:ent.start_char] + new + text[ent.end_char:], "reworded"))
            break
    out.append((text, "same"))
    return [(c, k) for c, k in ((_sentence(c), k) for c, k in out) if checkable(c)]


def _clauses(doc: Any) -> list[str]:
    """The main clauses of a compound sentence ("A did X, and B did Y" → both), each standalone."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return []
    parts = []
    for conj in root.children:
        if conj.dep_ == "conj" and conj.pos_ in ("VERB", "AUX") and \
                any(c.dep_ in ("nsubj", "nsubjpass") for c in conj.children):
            sub = list(conj.subtree)
            parts.append(doc[sub[0].i: sub[-1].i + 1].text)
            head = [t for t in doc if t.i < sub[0].i and t.dep_ != "cc"]
            while head and (head[-1].is_punct or head[-1].dep_ == "cc"):
                head.pop()
            if head:
                parts.append(doc[head[0].i: head[-1].i + 1].text)
    return parts


def _reword_number(text: str, label: str) -> str | None:
    m = re.fullmatch(r"(.*?)\$(\d+(?:\.\d+)?) ?(billion|million|trillion|bn|m)\b(.*)", text)
    if label == "MONEY" and m:
        scale = {"bn": "billion", "m": "million"}.get(m.group(3), m.group(3))
        return f"{m.group(1)}{m.group(2)} {scale} dollars{m.group(4)}"
    m = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", text)
    if label == "ORDINAL" and m and int(m.group(1)) < len(_ORDINAL_WORDS):
        return _ORDINAL_WORDS[int(m.group(1))]
    if label == "ORDINAL" and text.lower() in _ORDINAL_WORDS[1:]:
        n = _ORDINAL_WORDS.index(text.lower())
        return f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}"
    if label == "CARDINAL" and text.isdigit() and 1 < int(text) < len(_NUMBER_WORDS):
        return _NUMBER_WORDS[int(text)]
    if label == "CARDINAL" and text.lower() in _NUMBER_WORDS[2:]:
        return str(_NUMBER_WORDS.index(text.lower()))
    if label == "PERCENT" and _parse_number(text) is not None and text.endswith("%"):
        return text[:-1].rstrip() + " percent"
    return None


def checkable(sentence: str) -> bool:
    """A sentence worth making claims from: standalone, not too short or long, with a detail."""
    words = sentence.split()
    return (6 <= len(words) <= 45 and not PRONOUN_START.match(sentence)
            and not sentence.endswith("?") and bool(re.search(r"\d|\b[A-Z][a-z]", " ".join(words[1:]))))


def sentences_of(text: str) -> list[str]:
    """A document's sentences (the same splitter ingest uses)."""
    return [text[a:b].strip() for a, b in sentence_spans(text)]


def entity_pools(docs: Iterable[Any]) -> dict[str, list[str]]:
    """Named entities by label, for swaps (sorted, so runs are reproducible)."""
    pools: dict[str, set[str]] = {}
    for doc in docs:
        for e in doc.ents:
            if e.label_ in ("PERSON", "GPE", "ORG", "NORP") and 2 < len(e.text) < 40 \
                    and e.text[0].isupper():
                pools.setdefault(e.label_, set()).add(e.text)
    return {k: sorted(v) for k, v in pools.items()}


# Names for the seeds set that the seed articles never mention (checked at generation).
SEED_POOLS = {
    "GPE": ["Japan", "Canada", "Mexico", "Argentina", "Norway", "Vietnam", "Indonesia", "Peru",
            "Kenya", "Australia", "Chile", "Portugal"],
    "PERSON": ["Angela Merkel", "Justin Trudeau", "Jacinda Ardern", "Emmanuel Macron",
               "Olaf Scholz", "Fumio Kishida"],
    "ORG": ["NATO", "the World Bank", "the African Union", "ASEAN", "the IMF"],
    "NORP": ["Japanese", "Canadian", "Mexican", "Norwegian", "Australian"],
}


def seeds_set(seeds: Path, *, seed: int = 13) -> list[dict[str, Any]]:
    """The perturbed-claims evaluation set of the sample articles."""
    nlp = load_nlp()
    rng = random.Random(seed)
    files = sorted(p for p in seeds.iterdir() if p.is_file() and not p.name.startswith("."))
    corpus = "\n".join(p.read_text(encoding="utf-8") for p in files)
    pools = {k: [v for v in vs if v.lower() not in corpus.lower()] for k, vs in SEED_POOLS.items()}
    rows: list[dict[str, Any]] = []
    for path in files:
        for sent in sentences_of(path.read_text(encoding="utf-8")):
            if not checkable(sent):
                continue
            doc = nlp(sent)
            for claim, kind in paraphrases(doc, rng):
                rows.append({"claim": claim, "label": "supported", "kind": kind,
                             "source": path.name, "sentence": sent})
            for claim, kind in perturbations(doc, rng, pools, corpus):
                rows.append({"claim": claim, "label": "refuted", "kind": kind,
                             "source": path.name, "sentence": sent})
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r["claim"] not in seen:
            seen.add(r["claim"])
            unique.append({"id": f"perturbed-{len(unique) + 1:03d}", **r})
    return unique


def main() -> None:
    """Write the seeds evaluation set."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "seeds")
    ap.add_argument("--out", type=Path, default=REPO / "eval" / "seeds-perturbed.jsonl")
    args = ap.parse_args()
    rows = seeds_set(args.seeds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[f"{r['label']}/{r['kind']}"] = kinds.get(f"{r['label']}/{r['kind']}", 0) + 1
    print(json.dumps({"claims": len(rows), "by_kind": kinds, "out": str(args.out)}))


if __name__ == "__main__":
    main()
