"""What a question asks for and what a sentence carries (no model needed), the int8 sentence
vectors, and follow-ups read against the last turn."""

import numpy as np
import pytest

from assistant.answers.chat import Turn, resolve, standalone_question
from assistant.index.store import dequantize, quantize
from assistant.search.features import (
    FAR,
    density,
    kind_match,
    question_shape,
    signals,
)
from assistant.search.wording import stem_set


@pytest.mark.parametrize(("question", "kind"), [
    ("Who killed the journalist?", "person"),
    ("NFL player X collapsed this week. He is a valued member of which team?", "org"),
    ("Huge crowds lined the streets of which country to pay tribute?", "place"),
    ("In which European country is the influencer being held?", "place"),
    ("When did the summit take place?", "date"),
    ("How many people were hurt?", "number"),
    ("How old was the oldest woman in the state?", "number"),
    ("What percentage of voters backed the plan?", "number"),
    ("Which singer topped the chart?", "person"),
    ("Does North Korea admit sending weapons?", "yesno"),
    ("True or false: the list put Celine Dion last.", "yesno"),
    ("Why did the talks fail?", "explain"),
    ("Which seed did the agency add to its list of allergens?", "thing"),
])
def test_question_shapes(question, kind):
    assert question_shape(question).kind == kind


def test_signals_name_what_the_question_does_not():
    shape = question_shape("Which country supplies drones to Russia?")
    says = signals("Russia has bought drones from Iran since August 2022.", shape)
    assert says.novel_place and says.year and says.month and kind_match(shape, says) == 1.0
    # Only the question's own place: nothing new of the kind asked for.
    same = signals("Russia uses drones.", shape)
    assert not same.novel_place and kind_match(shape, same) == 0.0
    who = question_shape("Who leads the company?")
    assert kind_match(who, signals("The company is led by Jane Smith, its founder.", who)) == 1.0
    many = question_shape("How many people died?")
    assert kind_match(many, signals("At least 41 people died in the fire.", many)) == 1.0
    assert kind_match(many, signals("People died in the fire.", many)) == 0.0


def test_an_answer_next_to_the_question_terms_is_near():
    shape = question_shape("Which team does Damar Hamlin play for?")
    near = signals("Buffalo Bills safety Damar Hamlin was released from the hospital.", shape)
    far = signals("Damar Hamlin was released from the hospital on Monday, weeks after the game "
                  "that doctors at the University of Cincinnati Medical Center described.", shape)
    assert near.name_gap == 2 and near.answer_gap <= near.name_gap
    assert far.name_gap > near.name_gap and far.answer_gap >= near.answer_gap
    assert near.novel_runs == 1 and far.novel_runs >= 2  # rival candidates: Monday, University…
    # The noun asked for ("which team") beside the new name; and none to measure from.
    assert signals("The team Buffalo Bills signed Damar Hamlin.", shape).head_gap == 1
    assert near.head_gap == FAR
    place = question_shape("Which country did the balloon come from?")
    says = signals("Officials said the balloon came from China.", place)
    assert says.answer_gap == 3  # "balloon came from China"
    none = signals("Officials said the balloon was large.", place)
    assert none.answer_gap == none.name_gap == FAR and none.novel_runs == 0


def test_density_rewards_terms_close_together():
    matched = {"drone", "russia"}
    near = stem_set("Iran sold drones to Russia last year")
    far = stem_set("Drones were discussed at length by many officials before anyone "
                   "mentioned Russia")
    assert density(near, matched) > density(far, matched) > 0
    assert density(near, {"drone"}) == 1.0 and density(near, set()) == 0.0


def test_sentence_vectors_survive_int8_storage():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    scales, codes = quantize(v)
    back = dequantize(list(scales), [c.tobytes() for c in codes])
    assert codes.dtype == np.int8 and back.shape == v.shape
    assert float((back * v).sum(axis=1).min()) > 0.999
    assert dequantize([], []).shape == (0, 0)


DRONES = Turn("Who supplies drones to Russia?",
              "Russia has reached out to Iran for drones to use in its war in Ukraine.")


def test_follow_ups_keep_their_subject_from_the_answer():
    assert resolve("What do they get in return?", [DRONES]).question == \
        "What do Iran get in return? (Russia)"
    assert resolve("Is that country also building a nuclear plant?", [DRONES]).question == \
        "Is Iran also building a nuclear plant?"
    # "And X?" swaps the last question's subject; questions alone still work (no answers).
    assert standalone_question("And Iran?", ["What does India buy from Russia?"]) == \
        "What does Iran buy from Russia?"
    assert resolve("When did he visit?", ["Where did Vladimir Putin travel?"]).question == \
        "When did Vladimir Putin visit?"
    # A first message, or one that names its subject, is taken as it is.
    assert resolve("What do they get in return?", []).question == "What do they get in return?"
    assert resolve("What does Hungary get from Russia?", [DRONES]).ask_back is None


def test_follow_ups_nothing_can_resolve_ask_back():
    vague = Turn("what is going on", "")
    got = resolve("Is that country involved?", [vague])
    assert got.ask_back and "country" in got.ask_back
    got = resolve("What do they want?", [vague])
    assert got.ask_back and "\u201cthey\u201d" in got.ask_back


def test_bm25_query_leaves_out_common_words_while_two_others_remain():
    from assistant.index.store import fts_query, fts_words

    assert fts_words("Who said what this week about the Bushehr plant?") == [
        "said", "week", "bushehr", "plant"]
    assert fts_query("said week bushehr plant", common={"said", "week"}) == '"bushehr" OR "plant"'
    # One rare word left is too few: the common ones stay.
    assert fts_query("said week bushehr", common={"said", "week"}) == \
        '"said" OR "week" OR "bushehr"'


def _quote(doc_id: str, text: str):
    from assistant.models import Citation, Quote

    return Quote(text=text, score=0.5, citation=Citation(
        n=1, doc_id=doc_id, title=None, publisher=None, url=None, published=None, source=doc_id,
        char_start=0, char_end=len(text), quote=text))


def test_sources_agree_counts_stories_not_sentences():
    from assistant.answers.answering import distinct_stories

    a1 = _quote("a", "The new bridge cost 240 million euros, officials said on Sunday.")
    a2 = _quote("a", "It took four years to build the bridge over the river.")
    b1 = _quote("b", "The bridge cost 240 million euros and took four years to build.")
    copy = _quote("c", "The new bridge cost 240 million euros, officials said on Sunday.")
    assert distinct_stories([a1, a2]) == 1  # two sentences of one story
    assert distinct_stories([a1, a2, b1]) == 2
    assert distinct_stories([a1, copy, b1]) == 2  # a republished copy is the same story
    assert distinct_stories([b1, a2, copy]) == 3  # "c" copies a sentence not quoted here
    assert distinct_stories([b1, a2, copy, a1]) == 2  # ... until it is: "a" and "c" are one


def test_a_quote_beside_a_chosen_one_joins_it_as_one_slice():
    from assistant.answers.answering import choose_quotes
    from assistant.models import Document
    from assistant.search import Sentence

    text = ("Vorland opened a new bridge on Sunday. The bridge cost 240 million euros.\n\n"
            "Trains will run every twenty minutes.")
    doc = Document(doc_id="v", text=text, source="v")
    other = Document(doc_id="k", text="The Elster bridge cost 240 million euros.", source="k")

    def sent(d: Document, piece: str, p: float) -> Sentence:
        start = d.text.index(piece)
        return Sentence(doc=d, start=start, end=start + len(piece), section=None, chunk_rank=1,
                        answer=p)

    cost = sent(doc, "The bridge cost 240 million euros.", 0.8)
    opened = sent(doc, "Vorland opened a new bridge on Sunday.", 0.5)
    trains = sent(doc, "Trains will run every twenty minutes.", 0.4)
    elster = sent(other, other.text, 0.3)
    chosen = choose_quotes([cost, opened, trains, elster], ratio=0.1, floor=0.05)
    # The sentence just before the best on its line joins it: one slice, verbatim.
    assert chosen[0].text == ("Vorland opened a new bridge on Sunday. "
                              "The bridge cost 240 million euros.")
    assert chosen[0].text == text[chosen[0].start : chosen[0].end]
    # A neighbour across a paragraph break stays a quote of its own; the candidates are intact.
    assert [c.text for c in chosen[1:]] == [trains.text, elster.text]
    assert cost.text == "The bridge cost 240 million euros."
