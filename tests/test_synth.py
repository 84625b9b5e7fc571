"""helpers.synth: pairs made from documents (08_make_pairs), offline.

The generator runs for real through tiny randomly initialised Llama models built here (a word-level
tokenizer trained on a few sentences, one model with a chat template and one without), loaded from
their folders by ``generate_queries``; the filters use the bundled all-MiniLM-L6-v2.
"""
import json
import warnings

import pandas as pd
import pytest

from helpers import synth
from helpers.data import DataError
from helpers.models import ModelNotFound

SENTENCES = [
    "Here is a document that people search for",
    "Write one search query that someone would type to find this document",
    "Items can be returned within 30 days of delivery for a full refund",
    "Refunds are issued within 3 business days of the scan",
    "Reply with the query alone on one line",
    "return policy refund window days card bank label printer",
]
DOCS = [
    "Items can be returned within 30 days of delivery for a full refund.",
    {"title": "Refunds", "text": "Refunds are issued within 3 business days of the scan."},
    "Reply with the query alone on one line.",
]


# ---- tiny generator models -----------------------------------------------------------------------

def build_tiny_model(folder, chat_template):
    """A randomly initialised Llama of a few thousand parameters with a word-level tokenizer,
    saved to ``folder``. Its generation_config asks for sampling, as real chat models' do."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (GenerationConfig, LlamaConfig, LlamaForCausalLM,
                              PreTrainedTokenizerFast)

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(
        special_tokens=["<unk>", "<pad>", "<eos>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<eos>")
    if chat_template:
        tokenizer.chat_template = (
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.1,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    assert sum(p.numel() for p in model.parameters()) < 50_000
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("generators")
    return {"chat": str(build_tiny_model(root / "chat", True)),
            "plain": str(build_tiny_model(root / "plain", False))}


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "synth"


@pytest.fixture()
def calls(monkeypatch):
    """Count (and, when told, interrupt) the model's generate calls: the real ones still run."""
    from transformers import LlamaForCausalLM

    original = LlamaForCausalLM.generate
    state = {"n": 0, "stop_at": None}

    def counted(self, *args, **kwargs):
        state["n"] += 1
        if state["n"] == state["stop_at"]:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)
    monkeypatch.setattr(LlamaForCausalLM, "generate", counted)
    return state


def run(model, **options):
    options = {"n_per_doc": 2, "max_new_tokens": 6, "batch_size": 2, "progress": False, **options}
    return synth.generate_queries(DOCS, model=model, **options)


def made_rows(made):
    return (list(made.pairs["anchor"]), list(made.pairs["positive"]), list(made.origin),
            made.removed[["anchor", "reason"]].values.tolist())


# ---- pairs without a model -----------------------------------------------------------------------

def test_title_pairs_flags_a_title_that_copies_the_text():
    docs = [{"title": "Return policy", "text": "Return policy: items can go back within 30 days."},
            {"title": "When will I get my refund?", "text": "Refunds are issued in 3 days."},
            ("Overview", "Plume credit never expires."), ("Overview", "Roost labels are free."),
            {"title": "", "text": "A text without a title."}, ("Empty", "")]
    made = synth.title_pairs(docs)
    assert list(made.pairs["anchor"]) == ["When will I get my refund?"]
    assert list(made.pairs["positive"]) == ["Refunds are issued in 3 days."]  # the body alone
    reasons = dict(zip(made.removed["anchor"], made.removed["reason"]))
    assert reasons["Return policy"] == "the title is the text's first words"
    assert reasons["Overview"] == "the same title heads several documents"
    assert reasons["Empty"] == "the document has no text"
    assert made.stats["without_title"] == 1 and made.stats["pairs"] == 1
    assert made.stats["reasons"]["the same title heads several documents"] == 2
    assert made.summary().startswith("1 pair kept, 4 removed")
    same = synth.title_pairs(pd.DataFrame([{"title": "T one", "text": "Body one."}]))
    assert same.pairs[0] == {"anchor": "T one", "positive": "Body one."}


PASSAGE = ("Dr. Smith opened the shop on Jan. 3 in the old town. Customers queued for hours to buy "
           "the new lamps. The lamps cost 12.50 euros each, e.g. less than a meal. Most of them "
           "sold out before noon. A second delivery arrived the next morning.")


def test_inverse_cloze_takes_the_sentence_out_of_its_passage():
    sentences = synth.split_sentences(PASSAGE)
    assert len(sentences) == 5 and sentences[0].startswith("Dr. Smith") and "12.50" in sentences[2]
    made = synth.inverse_cloze([("Lamps", PASSAGE), "Too short.", "One. Two. Three."],
                               n_per_doc=3, seed=1)
    assert len(made.pairs) == 3
    for row in made.pairs:
        assert row["anchor"] in sentences and row["anchor"] not in row["positive"]
        assert row["positive"].startswith("Lamps. ")  # the title heads the positive
        rest = [s for s in sentences if s != row["anchor"]]
        assert row["positive"] == "Lamps. " + " ".join(rest)
    assert made.removed["reason"].tolist() == ["fewer than two sentences",
                                                "no sentence of 5 words or more"]
    kept_in = synth.inverse_cloze([PASSAGE], keep_sentence=True)
    assert kept_in.pairs[0]["anchor"] in kept_in.pairs[0]["positive"]
    assert kept_in.origin[0].endswith("(kept in)")


def test_inverse_cloze_is_seeded_and_independent_of_document_order():
    other = "The cat sat on the warm mat all day. Then it slept by the fire until dawn came."
    a = synth.inverse_cloze([PASSAGE, other], seed=7)
    assert made_rows(a) == made_rows(synth.inverse_cloze([PASSAGE, other], seed=7))
    b = synth.inverse_cloze([other, PASSAGE], seed=7)
    assert sorted(zip(a.pairs["anchor"], a.origin)) == sorted(zip(b.pairs["anchor"], b.origin))
    picks = {synth.inverse_cloze([PASSAGE], seed=s).pairs[0]["anchor"] for s in range(10)}
    assert len(picks) > 1  # the seed decides


def test_split_sentences_minds_abbreviations_initials_and_numbers():
    text = ("It opened on Jan. 3. J. Doe came at 3.5 p.m. with Mr. Lee, i.e. the owner. "
            "\"Wow!\" she said. 这是中文。好的！\n\n- first item\n- second item")
    assert synth.split_sentences(text) == [
        "It opened on Jan. 3.", "J. Doe came at 3.5 p.m. with Mr. Lee, i.e. the owner.",
        "\"Wow!\" she said.", "这是中文。", "好的！", "- first item", "- second item"]


def test_documents_are_read_in_every_form_or_refused_plainly():
    docs = synth.documents_from({"a": "Text one.", "b": {"title": "T", "text": "Two."}})
    assert [d.full for d in docs] == ["Text one.", "T. Two."]
    with pytest.raises(DataError, match="not one text"):
        synth.documents_from("just one text")
    with pytest.raises(DataError, match="Document 2 is 42"):
        synth.documents_from(["fine", 42])


# ---- the generator -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("return window days", ("return window days", None)),
    ('Here is a keyword query:\n1. "return window days"', ("return window days", None)),
    ("**Query:** refund time", ("refund time", None)),
    ("Search query 2: “refnd to card”", ("refnd to card", None)),
    ("Query:\n  - 'how long for my refund'  \n2. another one", ("how long for my refund", None)),
    ("<think>they want keywords</think>\n```\nprepaid label\n```", ("prepaid label", None)),
    ("  \n\n", ("", "empty output")),
    ("Query:", ("", "empty output")),
    ("word " * 31, (("word " * 31).strip(), "longer than 30 words")),
])
def test_parse_query(raw, expected):
    assert synth.parse_query(raw) == expected


def test_the_prompt_asks_for_the_documents_language_or_the_one_given():
    prompt = synth.build_prompt("Ein Text.", synth.STYLES["typo"])
    assert "Ein Text." in prompt and synth.STYLES["typo"] in prompt
    assert "same language as the document" in prompt
    assert "Write it in German." in synth.build_prompt("Ein Text.", "x", language="German")
    long_doc = "word " * 1000
    assert len(synth.build_prompt(long_doc, "x").split()) < synth.DOC_WORDS + 60


def test_generate_runs_for_real_and_a_second_run_generates_nothing(tiny, cache, calls):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation or "flag ignored" warning from our calls
        first = run(tiny["chat"])
    assert first.stats["prompt_format"] == "chat"
    assert first.stats["requests"] == 6 and first.stats["generated"] == 6
    assert calls["n"] == 3  # 6 requests in batches of 2
    assert len(first.pairs) + len(first.removed) == 6
    assert set(first.pairs["positive"]) <= {synth.documents_from([d])[0].full for d in DOCS}
    assert set(first.origin) <= set(synth.STYLES)
    assert sorted(f.suffix for f in cache.rglob("*") if f.is_file()) == [".json"] * 6
    calls["n"] = 0
    second = run(tiny["chat"], batch_size=4)
    assert calls["n"] == 0 and second.stats["generated"] == 0 and second.stats["from_cache"] == 6
    assert made_rows(second) == made_rows(first)
    # Sampling is per request: uncached and in other batches, the same queries come out.
    assert made_rows(run(tiny["chat"], batch_size=3, cache=False)) == made_rows(first)
    assert made_rows(run(tiny["chat"], seed=43, cache=False)) != made_rows(first)


def test_a_model_without_a_chat_template_gets_a_plain_prompt(tiny, cache, monkeypatch):
    from transformers import TextGenerationPipeline

    seen = []
    original = TextGenerationPipeline.preprocess

    def spy(self, prompt_text, *args, **kwargs):
        seen.append(prompt_text)
        return original(self, prompt_text, *args, **kwargs)
    monkeypatch.setattr(TextGenerationPipeline, "preprocess", spy)
    made = run(tiny["plain"], n_per_doc=1)
    assert made.stats["prompt_format"] == "plain" and len(seen) == 3
    assert all(isinstance(p, str) and p.endswith("\nQuery:") for p in seen)


def test_an_interrupted_run_resumes_where_it_stopped(tiny, cache, calls):
    calls["stop_at"] = 2
    with pytest.raises(KeyboardInterrupt):
        run(tiny["chat"])
    assert sum(f.is_file() for f in cache.rglob("*")) == 2  # the first batch was kept
    calls.update(n=0, stop_at=None)
    resumed = run(tiny["chat"])
    assert resumed.stats["generated"] == 4 and resumed.stats["from_cache"] == 2
    assert calls["n"] == 2
    assert made_rows(resumed) == made_rows(run(tiny["chat"], cache=False))


def test_a_damaged_cache_file_is_made_again(tiny, cache, calls, capsys):
    first = run(tiny["chat"])
    entries = sorted(f for f in cache.rglob("*") if f.is_file())
    entries[0].write_text("{not json", encoding="utf-8")
    other = json.loads(entries[1].read_text(encoding="utf-8"))
    entries[1].write_text(json.dumps({**other, "key": "someone else's"}), encoding="utf-8")
    calls["n"] = 0
    again = run(tiny["chat"], batch_size=8)
    assert again.stats["generated"] == 2 and calls["n"] == 1
    assert capsys.readouterr().out.count("cannot be used") == 2
    assert made_rows(again) == made_rows(first)
    assert json.loads(entries[0].read_text(encoding="utf-8"))["key"] == entries[0].stem


def test_overlong_and_empty_outputs_are_reported_not_kept(tiny, cache):
    made = run(tiny["chat"], n_per_doc=4, max_words=2)
    assert len(made.removed) > 0
    assert set(made.removed["reason"]) <= {"longer than 2 words", "empty output"}
    assert all(len(q.split()) <= 2 for q in made.pairs["anchor"])


def test_a_pipeline_or_a_model_and_tokenizer_work_too(tiny, cache):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    model = AutoModelForCausalLM.from_pretrained(tiny["chat"])
    tokenizer = AutoTokenizer.from_pretrained(tiny["chat"])
    by_folder = made_rows(run(tiny["chat"], cache=False))
    assert made_rows(run((model, tokenizer), cache=False)) == by_folder
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    assert made_rows(run(pipe, cache=False)) == by_folder
    assert synth.model_slug(pipe).startswith("chat-")


def test_a_model_that_cannot_be_had_is_one_plain_error(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound) as caught:
        run("workbook-tests/no-such-generator")
    message = str(caught.value)
    assert "\n" not in message and "hub cannot be reached" in message
    assert "local folder" in message and "title_pairs and inverse_cloze" in message
    error = caught.value  # no library traceback chained to it
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    with pytest.raises(ModelNotFound, match="neither a folder"):
        run("no_such_generator_folder")


def test_a_failed_download_is_one_plain_error_too(cache, monkeypatch, capsys):
    from huggingface_hub import constants

    from helpers import network
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the download fails at once, without a network
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(network, "is_online", lambda *a, **k: True)
    with pytest.raises(ModelNotFound, match="^Could not download workbook-tests/nothing from the "
                                            "hub .*without any model.$"):
        run("workbook-tests/nothing")
    assert "Downloading workbook-tests/nothing from the Hugging Face hub" in capsys.readouterr().out


def test_seeded_sampling_draws_from_the_softmax():
    """Gumbel-max with one stream per request samples softmax(scores / temperature), and the
    top-p cut removes the tail."""
    import torch

    from helpers.synth import _SeededSampling
    scores = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(4000, 1)
    expected = torch.softmax(scores[0] / 0.7, dim=0)
    picks = _SeededSampling(list(range(4000)), 0.7, 1.0)(None, scores).argmax(dim=1)
    share = torch.bincount(picks, minlength=4) / len(picks)
    assert torch.allclose(share, expected, atol=0.03), (share, expected)
    again = _SeededSampling(list(range(4000)), 0.7, 1.0)(None, scores).argmax(dim=1)
    assert torch.equal(picks, again)  # the same seeds, the same draws
    cut = _SeededSampling(list(range(4000)), 0.7, 0.8)(None, scores).argmax(dim=1)
    assert set(cut.tolist()) == {0, 1}  # 0.75 + 0.18 covers 0.8: the two smallest never come


def test_styles_are_checked(tiny):
    with pytest.raises(DataError, match="Styles are names from keywords"):
        run(tiny["chat"], styles=("keywords", "shouting"))


# ---- filters -------------------------------------------------------------------------------------

CORPUS = {
    "refund": "Refunds are issued within 3 business days after your return is scanned at our "
              "warehouse.",
    "password": "To reset your password, open Settings, choose Account and tap Forgot password.",
    "canada": "We ship to Canada and Mexico; delivery takes 5 to 8 business days.",
    "battery": "Replace the smoke detector battery every year: twist the cover off and insert a "
               "new 9-volt battery.",
}


@pytest.fixture(scope="module")
def minilm():
    from helpers import models
    return models.load("all-MiniLM-L6-v2", device="cpu", verbose=False)


def test_round_trip_keeps_a_query_that_finds_its_document(minilm):
    pairs = [("when does my money come back after a return", CORPUS["refund"]),
             ("I forgot my login, how do I get back in", CORPUS["canada"])]  # the wrong document
    made = synth.round_trip(pairs, minilm, corpus=CORPUS, k=1)
    assert list(made.pairs["anchor"]) == ["when does my money come back after a return"]
    assert made.removed["reason"].tolist() == ["its document is not in the top 1"]
    assert made.stats["corpus"] == 4
    assert len(synth.round_trip(pairs, minilm, corpus=CORPUS, k=4).pairs) == 2


def test_dedupe_keeps_the_first_and_drops_queries_asked_of_two_documents():
    pairs = [("refund time", "Doc A"), ("Refund time?", "Doc A"), ("refund time", "Doc A"),
             ("change password", "Doc B"), ("change  PASSWORD", "Doc C"), ("ship to canada", "D")]
    made = synth.dedupe(pairs)
    assert list(made.pairs["anchor"]) == ["refund time", "ship to canada"]
    assert made.removed["reason"].tolist() == [
        "repeats an earlier query (after normalising)", "repeats an earlier query",
        "the same query for 2 documents", "the same query for 2 documents"]


def test_drop_copies_measures_shared_word_runs():
    doc = "Refunds are issued within 3 business days after your return is scanned at our warehouse."
    assert synth.copy_overlap("issued within 3 business days", doc) == 1.0
    assert synth.copy_overlap("how long do refunds take to arrive", doc) == 0.0
    assert synth.copy_overlap("refund time", doc) is None  # under 3 words
    pairs = [("Refunds are issued", doc),                      # the document's first words
             ("issued within 3 business days after", doc),     # 4 of 4 runs in the document
             ("how long until refunds are issued to me", doc),  # 1 of 6 runs
             ("business days", doc)]                            # short: a keyword search
    made = synth.drop_copies(pairs, max_overlap=0.6)
    assert list(made.pairs["anchor"]) == ["how long until refunds are issued to me",
                                          "business days"]
    assert made.removed["reason"].tolist() == ["the query is the document's first words",
                                               "over 60% of its 3-word runs are in the document"]
    with pytest.raises(DataError, match="max_overlap"):
        synth.drop_copies(pairs, max_overlap=60)


def test_clean_runs_the_filters_in_order_and_keeps_the_origins(minilm):
    made = synth.inverse_cloze([
        ("Refunds", "Refunds are issued within 3 business days of the scan. Card refunds can take "
                    "another week to show on your statement."),
        ("Passwords", "Open Settings and choose Account to reset a password. A reset link is "
                      "sent to your email within a minute.")], n_per_doc=2)
    extra = synth.Made(made.pairs.add_item({"anchor": made.pairs[0]["anchor"],
                                            "positive": made.pairs[0]["positive"]}),
                       made.removed, {}, made.origin + ("copied again",))
    cleaned = synth.clean(extra, minilm, k=1)
    assert cleaned.stats["start"] == 5
    assert cleaned.stats["removed_by"]["dedupe"] == 1
    assert sum(cleaned.stats["removed_by"].values()) == len(cleaned.removed) == 5 - len(
        cleaned.pairs)
    assert set(cleaned.removed["step"]) <= {"dedupe", "drop_copies", "round_trip"}
    assert all(o.startswith("sentence") for o in cleaned.origin)
    assert cleaned.table().columns.tolist() == ["anchor", "positive", "origin"]
