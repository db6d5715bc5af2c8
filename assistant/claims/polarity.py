"""Which way a statement points: up ("rose", "enhances", "higher risk") or down ("fell",
"suppresses", "a reduction in"), with a nearby negation turning it ("did not increase" points
down); and whether it reports a null result ("no significant difference", "was not associated").

A claim that says something went up, against a sentence about the same thing saying it went
down, is a contradiction that shares almost every word with its evidence: "Antiretroviral
therapy increases rates of tuberculosis" against "... is associated with a reduction in the
incidence of tuberculosis". The stance model reads these as features; they were measured on
SciFact's rationale sentences, where a direction conflict is 3.9 times as common in
contradicting pairs as in supporting ones (`scripts/train_stance.py` retrains with them). Where
both say "more ... hikes", `turned` compares only the words where they differ.
"""

from __future__ import annotations

import re
from functools import cache

from assistant.text import stems

# Matched by stem, so that "reductions" and "lowering" count as well; magnitude, not valence:
# "worsens" (more severe) is in neither.
_UP = frozenset("""
    increase increases increased increasing rise rises rose risen rising raise raises raised
    high higher highest more greater larger enhance enhances enhanced enhancement enhancing
    elevate elevates elevated elevation promote promotes promoted promoting activate activates
    activated activation activating induce induces induced induction inducing stimulate
    stimulates stimulated stimulation stimulating upregulate upregulates upregulated
    upregulation boost boosts boosted improve improves improved improvement improving
    accelerate accelerates accelerated acceleration expand expands expanded expansion gain
    gains gained grow grows grew grown growth augment augments augmented amplify amplifies
    amplified amplification strengthen strengthens strengthened positive positively abundant
    excess excessive surge surges surged soar soars soared jump jumps jumped hike hikes hiked
    climb climbs climbed""".split())
_DOWN = frozenset("""
    decrease decreases decreased decreasing reduce reduces reduced reducing reduction decline
    declines declined declining fall falls fell fallen falling drop drops dropped low lower
    lowers lowered lowest less fewer smaller diminish diminishes diminished suppress suppresses
    suppressed suppression suppressing inhibit inhibits inhibited inhibition inhibiting repress
    represses repressed repression attenuate attenuates attenuated attenuation impair impairs
    impaired impairment block blocks blocked prevent prevents prevented prevention deactivate
    deactivates deactivated downregulate downregulates downregulated downregulation weaken
    weakens weakened shrink shrinks shrank shrunk contract contracts contracted contraction
    loss lose loses lost negative negatively scarce slow slows slowed lessen lessens lessened
    abolish abolishes abolished eliminate eliminates eliminated deplete depletes depleted
    depletion deficient deficiency plunge plunges plunged slump slumps slumped cut cuts slash
    slashed""".split())
_TOKEN = re.compile(r"[A-Za-z]+(?:['’]t)?|[,;:]")
_NEGATORS = frozenset("not no never neither nor without cannot fail fails failed unable".split())
NEGATION_REACH = 4  # a negation turns the first direction word at most this many words on
# "no significant difference", "did not change", "wasn't associated", "unchanged"; not "not
# only ... increased" (the negator must sit at most two words before what it negates).
_NULL = re.compile(
    r"(?:\b(?:no|not|never)|n['’]t)\s+(?!only\b)(?:[\w-]+\s+){0,2}?(?:significant(?:ly)?|"
    r"differ\w*|change\w*|effect\w*|associat\w*|affect\w*|impact\w*|alter\w*|improv\w*|"
    r"reduc\w*|increas\w*|benefit\w*|correlat\w*|influenc\w*)\b|\bunchanged\b|"
    r"\bnon-?significant\b",
    re.IGNORECASE)
# What a claim of an effect says: a null result in its evidence speaks against it.
_EFFECT = re.compile(
    r"\b(?:associat\w*|correlat\w*|caus\w*|leads? to|led to|results? in|effect\w*|affect\w*|"
    r"improv\w*|reduc\w*|increas\w*|decreas\w*|promot\w*|inhibit\w*|prevent\w*|risk|higher|"
    r"lower|more|less|better|worse|benefit\w*)\b", re.IGNORECASE)


# Words whose stems collide with a direction word's but that point nowhere ("activity" with
# "activation", "position" with "positive", "highly" with "high").
_NOT_DIRECTION = frozenset("""
    active actively activity activities position positions positioned highly lowly
    blocking""".split())


@cache
def _stem_lexicon() -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(stems(sorted(_UP))), frozenset(stems(sorted(_DOWN)))


def _negates(word: str) -> bool:
    """A negation word ("not", "without", "didn't"); `word` lower-cased."""
    return word in _NEGATORS or word.endswith(("n't", "n’t"))


def _sign(word: str) -> int:
    if word in _NOT_DIRECTION:
        return 0
    up, down = _stem_lexicon()
    s = stems([word])[0]
    return (s in up) - (s in down)


def direction(text: str) -> int:
    """+1 when the text says up, -1 down, 0 neither or both equally."""
    total, reach = 0, 0
    for token in _TOKEN.findall(text):
        word = token.lower()
        if word in ",;:":  # a negation does not reach into the next clause
            reach = 0
            continue
        d = _sign(word)
        if d and reach:
            d, reach = -d, 0  # a negation turns the first direction word after it
        elif _negates(word):
            reach = NEGATION_REACH + 1
        reach = max(0, reach - 1)
        total += d
    return (total > 0) - (total < 0)


def turned(claim: str, sentence: str) -> bool:
    """The words where the two differ point opposite ways ("stays reduced" / "stays elevated")."""
    a = {t.lower() for t in _TOKEN.findall(claim)}
    b = {t.lower() for t in _TOKEN.findall(sentence)}
    return _total(a - b) * _total(b - a) < 0


def _total(words: set[str]) -> int:
    t = sum(_sign(w) for w in words)
    return (t > 0) - (t < 0)


def negated_before(text: str, start: int) -> bool:
    """A negation within NEGATION_REACH words before `start`, in the same clause."""
    words = _TOKEN.findall(text[:start])[-NEGATION_REACH:]
    for w in reversed(words):
        if w in ",;:":
            return False
        if _negates(w.lower()):
            return True
    return False


def null_result(text: str) -> bool:
    """The text reports that something did not change or differ."""
    return bool(_NULL.search(text))


def claims_effect(text: str) -> bool:
    """The text asserts an effect, an association or a change."""
    return bool(_EFFECT.search(text))
