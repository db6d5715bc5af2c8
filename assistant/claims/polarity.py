"""Which way a statement points: up ("rose", "enhances", "higher risk") or down ("fell",
"suppresses", "a reduction in"), with a nearby negation turning it ("did not increase" points
down); and whether it reports a null result ("no significant difference", "was not associated").

A claim that says something went up, against a sentence about the same thing saying it went
down, is a contradiction that shares almost every word with its evidence: "Antiretroviral
therapy increases rates of tuberculosis" against "... is associated with a reduction in the
incidence of tuberculosis". The stance model reads these as features; they were measured on
SciFact's rationale sentences, where a direction conflict is 3.8 times as common in
contradicting pairs as in supporting ones (`scripts/train_stance.py` retrains with them).
"""

from __future__ import annotations

import re
from functools import cache

from assistant.text import stems

_UP = (
    "increase increases increased increasing rise rises rose risen rising raise raises raised "
    "high higher more greater larger enhance enhances enhanced enhancement elevate elevates "
    "elevated elevation promote promotes promoted activate activates activated activation "
    "induce induces induced induction stimulate stimulates stimulated stimulation upregulate "
    "upregulates upregulated upregulation boost boosts boosted improve improves improved "
    "improvement accelerate accelerates accelerated expand expands expanded expansion gain "
    "gains gained grow grows grew growth augment augments augmented amplify amplifies amplified "
    "strengthen strengthens strengthened positive positively exacerbate exacerbates exacerbated "
    "worsen worsens worsened abundant excess excessive surge surged soar soared jump jumped "
    "hike hiked climb climbed"
)
_DOWN = (
    "decrease decreases decreased decreasing reduce reduces reduced reducing reduction decline "
    "declines declined fall falls fell fallen drop drops dropped low lower lowers lowered less "
    "fewer smaller diminish diminishes diminished suppress suppresses suppressed suppression "
    "inhibit inhibits inhibited inhibition repress represses repressed repression attenuate "
    "attenuates attenuated impair impairs impaired impairment block blocks blocked prevent "
    "prevents prevented prevention deactivate deactivates deactivated downregulate "
    "downregulates downregulated downregulation weaken weakens weakened shrink shrinks shrank "
    "loss lose loses lost negative negatively scarce slow slows slowed lessen lessens lessened "
    "abolish abolishes abolished eliminate eliminates eliminated deplete depletes depleted "
    "depletion deficient deficiency plunge plunged slump slumped cut cuts slash slashed"
)
_WORD = re.compile(r"[A-Za-z]+(?:['’]t)?")
_NEGATORS = frozenset("not no never neither nor without cannot fail fails failed unable".split())
NEGATION_REACH = 4  # a negation turns a direction word at most this many words after it
# "no significant difference", "did not change", "was not associated", "unchanged".
_NULL = re.compile(
    r"\b(?:no|not|nor|neither)\b[^.;]{0,40}\b(?:significant(?:ly)?|differ\w*|change\w*|effect\w*|"
    r"associat\w*|affect\w*|impact\w*|alter\w*|improv\w*|reduc\w*|increas\w*|benefit\w*|"
    r"correlat\w*|influenc\w*)|\b(?:did|does|do|was|were|is|are)\s+not\s+(?:significantly\s+)?"
    r"(?:differ|change|affect|alter|improve|reduce|increase|influence|associated|correlated)|"
    r"\bunchanged\b|\bsimilar\b[^.;]{0,30}\bbetween\b|\bcomparable\b|\bnon-?significant",
    re.IGNORECASE)
# What a claim of an effect says: a null result in its evidence speaks against it.
_EFFECT = re.compile(
    r"\b(?:associat\w*|correlat\w*|caus\w*|leads? to|led to|results? in|effect\w*|affect\w*|"
    r"improv\w*|reduc\w*|increas\w*|decreas\w*|promot\w*|inhibit\w*|prevent\w*|risk|higher|"
    r"lower|more|less|better|worse|benefit\w*)\b", re.IGNORECASE)


@cache
def _lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """The up and down words as stems ("reduction" and "reduces" both "reduc")."""
    return frozenset(stems(_UP.split())), frozenset(stems(_DOWN.split()))


def direction(text: str) -> int:
    """+1 when the text says up, -1 down, 0 neither or both equally."""
    up, down = _lexicon()
    words = [w.lower() for w in _WORD.findall(text)]
    total = 0
    for i, s in enumerate(stems(words)):
        d = (s in up) - (s in down)
        if d and any(w in _NEGATORS or w.endswith(("n't", "n’t"))
                     for w in words[max(0, i - NEGATION_REACH): i]):
            d = -d
        total += d
    return (total > 0) - (total < 0)


def turned(claim: str, sentence: str) -> bool:
    """The words where the two differ point opposite ways: "inflation stays reduced" against
    "inflation stays elevated" (both also say "more ... hikes", so their whole directions agree)."""
    a = {w.lower() for w in _WORD.findall(claim)}
    b = {w.lower() for w in _WORD.findall(sentence)}
    sa, sb = dict(zip(stems(list(a)), a)), dict(zip(stems(list(b)), b))
    only_a = " ".join(sa[k] for k in sa.keys() - sb.keys())
    only_b = " ".join(sb[k] for k in sb.keys() - sa.keys())
    return _sign(only_a) * _sign(only_b) < 0


def _sign(words: str) -> int:
    """Up minus down over bare words, as a sign (no negation: `turned` compares word sets)."""
    up, down = _lexicon()
    total = sum((s in up) - (s in down) for s in stems(words.split()))
    return (total > 0) - (total < 0)


def null_result(text: str) -> bool:
    """The text reports that something did not change or differ."""
    return bool(_NULL.search(text))


def claims_effect(text: str) -> bool:
    """The text asserts an effect, an association or a change."""
    return bool(_EFFECT.search(text))
