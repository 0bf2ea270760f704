"""LocalAgreement-2 on scripted hypotheses."""

from __future__ import annotations

from parley_asr.agreement import LocalAgreement
from parley_asr.engine import Word

S = 16000


def words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(text, int(start * S), int(end * S)) for text, start, end in spec]


def texts(ws: list[Word]) -> list[str]:
    return [w.text for w in ws]


def test_confirms_what_two_consecutive_hypotheses_agree_on() -> None:
    la = LocalAgreement()
    assert la.update(words(("the", 0.0, 0.2), ("coffee", 0.2, 0.6))) == []
    assert texts(la.tentative) == ["the", "coffee"]
    confirmed = la.update(words(("the", 0.0, 0.2), ("coffee", 0.2, 0.6), ("was", 0.6, 0.8), ("cold", 0.8, 1.2)))
    assert texts(confirmed) == ["the", "coffee"]
    assert texts(la.tentative) == ["was", "cold"]
    # a revision of the tentative tail confirms only the agreeing part
    confirmed = la.update(words(("the", 0.0, 0.2), ("coffee", 0.2, 0.6), ("was", 0.6, 0.8), ("old", 0.8, 1.2)))
    assert texts(confirmed) == ["was"]
    assert texts(la.confirmed) == ["the", "coffee", "was"]
    assert texts(la.tentative) == ["old"]


def test_case_and_punctuation_do_not_block_agreement() -> None:
    la = LocalAgreement()
    la.update(words(("Hello,", 0.0, 0.4), ("there", 0.4, 0.8)))
    assert texts(la.update(words(("hello", 0.0, 0.4), ("There.", 0.4, 0.8)))) == ["hello", "There."]


def test_drops_reheard_confirmed_words_by_time_and_by_ngram() -> None:
    la = LocalAgreement()
    la.update(words(("good", 0.0, 0.4), ("bread", 0.4, 0.8)))
    la.update(words(("good", 0.0, 0.4), ("bread", 0.4, 0.8)))
    assert texts(la.take_confirmed()) == ["good", "bread"]
    # The buffer was trimmed at 0.8 s; the model repeats "bread" near the cut
    # (an n-gram repeat) and re-hears "good" before it (dropped by time).
    la.update(words(("good", 0.0, 0.3), ("bread", 0.8, 1.0), ("and", 1.0, 1.2), ("tea", 1.2, 1.5)))
    assert texts(la.tentative) == ["and", "tea"]
    assert texts(la.update(words(("and", 1.0, 1.2), ("tea", 1.2, 1.5)))) == ["and", "tea"]


def test_flush_takes_the_last_hypothesis_whole() -> None:
    la = LocalAgreement()
    la.update(words(("one", 0.0, 0.3), ("two", 0.3, 0.6)))
    la.update(words(("one", 0.0, 0.3), ("two", 0.3, 0.6), ("three", 0.6, 0.9)))
    final = la.flush(words(("one", 0.0, 0.3), ("two", 0.3, 0.6), ("tree", 0.6, 0.9), ("four", 0.9, 1.2)))
    assert texts(final) == ["one", "two", "tree", "four"]
    assert la.confirmed == [] and la.tentative == []
