"""No pairs yet? Make (query, document) pairs from your documents (introduced in 08_make_pairs).

``title_pairs`` and ``inverse_cloze`` need no model; ``generate_queries`` has a small instruction-
tuned model write the queries people type. Filters: ``dedupe``, ``drop_copies``, ``round_trip``, and
``clean`` for all three. Each returns a :class:`Made`: pairs, what was removed and why, counts.
Documents: texts, dicts with ``text`` (and ``title``), (title, text) tuples, a DataFrame with those
columns, or {id: text or dict} such as ``IRSplit.corpus``; a titled one is embedded as "Title. Text"
(``data.article_text``, as the support articles are), the positive of generated and ICT pairs.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import device as device_module
from . import metrics, network, paths, quiet
from .data.bundled import article_text
from .data.containers import DataError, as_text, make_dataset, normalize, plural, shorten
from .data.files import as_frame, resolve_path
from .errors import check_whole
from .models import ModelNotFound

if TYPE_CHECKING:
    import pandas as pd
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from transformers import Pipeline

    from .data.files import Pairs

DEFAULT_GENERATOR = "Qwen/Qwen2.5-0.5B-Instruct"
"""The default query writer. Qwen2.5-0.5B-Instruct: 0.5 billion parameters (about 1 GB in 16-bit,
so it runs on a free Colab T4 and, slowly, on a laptop CPU), Apache-2.0 licence, trained on 29+
languages (SmolLM2-360M-Instruct, the other candidate, is English-only), and it follows a
one-line instruction such as "reply with the query alone" well for its size."""
PROMPT_VERSION = "1"  # bump when the prompts change in a way the cache keys do not see
STYLES = {
    "keywords": "two to four keywords, not a sentence, the way people type into a search box",
    "question": "a question in plain everyday words, as someone who does not know the document's "
                "own terms would ask it",
    "typo": "a short, hurried query with one or two spelling mistakes in it",
    "expert": "a precise query using the technical terms an expert in the field would use",
}
PROMPT = ("Here is a document that people search for:\n\n{document}\n\nWrite one search query "
          "that someone would type to find this document: {style}. {language} Do not copy a "
          "sentence from the document. Reply with the query alone, on one line.")
PLAIN_SUFFIX = "\nQuery:"  # ends the prompt of a model without a chat template
DOC_WORDS = 300  # a longer document is cut to its first 300 words in the prompt
MAX_QUERY_WORDS = 30  # a longer output is the model rambling, not a query
OFFLINE = ("The query generator needs the model {name}, which is not in the Hugging Face cache, "
           "and the hub cannot be reached (offline). Connect once to download it (about 1 GB) or "
           "pass a local folder that holds it; title_pairs and inverse_cloze make pairs without "
           "any model.")


class Made(NamedTuple):
    """What every builder and filter returns (introduced in 08_make_pairs): ``pairs`` (a Dataset,
    anchor and positive, ready to train on), ``removed`` (a DataFrame: anchor, positive, reason,
    origin), ``stats`` (counts; ``reasons``: removed rows per reason) and ``origin`` (how each kept
    pair was made: "title", "sentence 2 of 5", a query style; row for row with ``pairs``)."""
    pairs: Dataset
    removed: pd.DataFrame
    stats: dict[str, Any]
    origin: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """The kept pairs with their origin, as a DataFrame to show."""
        return self.pairs.to_pandas().assign(origin=list(self.origin) or "")

    def summary(self) -> str:
        """One line, e.g. ``12 pairs kept, 3 removed (2 × the title is ..., 1 × ...)``."""
        why = ", ".join(f"{n} × {reason}" for reason, n in self.stats.get("reasons", {}).items())
        return (f"{plural(len(self.pairs), 'pair')} kept, {len(self.removed):,} removed"
                + (f" ({why})" if why else ""))


def _made(kept: list[dict], removed: list[dict], **stats: Any) -> Made:
    import pandas as pd
    pairs = make_dataset({c: [r[c] for r in kept] for c in ("anchor", "positive")})
    table = pd.DataFrame(removed, columns=["anchor", "positive", "reason", "origin"])
    stats.update(pairs=len(kept), removed=len(removed),
                 reasons=dict(Counter(r["reason"] for r in removed).most_common()))
    return Made(pairs, table, stats, tuple(r.get("origin", "") for r in kept))


# ---- documents, words, sentences -----------------------------------------------------------------
class Doc(NamedTuple):
    """One document (introduced in 08_make_pairs): title ('' when none), text, and ``full``, how
    it is embedded ("Title. Text", ``data.article_text``)."""
    title: str
    text: str
    full: str


def documents_from(documents: Any) -> list[Doc]:
    """Documents in any form the module takes (see the module's docstring) as :class:`Doc` s
    (introduced in 08_make_pairs). Raises :class:`DataError` for anything else."""
    if hasattr(documents, "to_dict") and hasattr(documents, "columns"):  # a DataFrame
        documents = documents.to_dict(orient="records")
    elif isinstance(documents, Mapping):
        documents = list(documents.values())
    elif isinstance(documents, str):
        raise DataError("Give a list of documents, not one text: e.g. [text] or [(title, text)].")
    docs = []
    for i, item in enumerate(documents, 1):
        if isinstance(item, str):
            item = ("", item)
        elif isinstance(item, Mapping) and "text" in item:
            item = (item.get("title"), item["text"])
        elif not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise DataError(f"Document {i} is {shorten(repr(item), 50)}: give texts, dicts with "
                            "'text' (and 'title'), or (title, text) pairs.")
        title, text = " ".join(as_text(item[0]).split()), as_text(item[1]).strip()
        docs.append(Doc(title, text, article_text(title, text)))
    if not docs:
        raise DataError("No documents given.")
    return docs


def words(text: str) -> list[str]:
    """Words as compared here: NFKC, case-folded, no punctuation (introduced in 08_make_pairs)."""
    return re.findall(r"\w+", normalize(text))


def _starts_with(doc_words: list[str], start: list[str]) -> bool:
    return bool(start) and doc_words[:len(start)] == start


_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf al approx ca dr mr mrs ms prof st jr sr inc ltd co corp no nr fig vol pp "
    "ed eds dept jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k z.b u.a bzw usw".split())
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？]+")


def split_sentences(text: str) -> list[str]:
    """Sentences by a regular expression, nothing to download (introduced in 08_make_pairs): one
    ends at ., !, ? or … (and a closing quote or bracket) before a space, or at 。！？; not after an
    abbreviation (e.g., Dr., Inc., a month) or an initial ("J. Smith"), nor before a lower-case
    word. Blank lines and list items end one too; 3.5 stays whole."""
    sentences = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", str(text)):
        start = 0
        for match in _END.finditer(block):
            last = (block[start:match.start()].split() or [""])[-1].lower().lstrip("(\"'“‘")
            after = block[match.end():].lstrip()
            if after[:1].islower() or (match.group()[0] == "." and (
                    last in _ABBREVIATIONS or re.fullmatch(r"[^\W\d_]", last))):
                continue
            sentences.append(block[start:match.end()])
            start = match.end()
        sentences.append(block[start:])
    return [" ".join(s.split()) for s in sentences if s.strip()]


# ---- 1. pairs without a model --------------------------------------------------------------------
def title_pairs(documents: Any) -> Made:
    """(title -> body) pairs from documents that have a title (introduced in 08_make_pairs).

    ``documents``: dicts with ``title`` and ``text``, (title, text) tuples or a DataFrame. The
    positive is the body alone ("Title. Text" would hold the query word for word). Removed, with the
    reason: a title whose words are the body's first words (it teaches copying, not how people
    ask), a title heading several documents (which one does it mean?), an empty body. Documents
    without a title are counted in ``stats``."""
    docs = documents_from(documents)
    titled = [d for d in docs if d.title]
    shared, kept, removed = Counter(normalize(d.title) for d in titled), [], []
    for d in titled:
        row = {"anchor": d.title, "positive": d.text, "origin": "title"}
        if not d.text:
            removed.append({**row, "reason": "the document has no text"})
        elif shared[normalize(d.title)] > 1:
            removed.append({**row, "reason": "the same title heads several documents"})
        elif _starts_with(words(d.text), words(d.title)):
            removed.append({**row, "reason": "the title is the text's first words"})
        else:
            kept.append(row)
    return _made(kept, removed, method="title_pairs", documents=len(docs),
                 without_title=len(docs) - len(titled))


def inverse_cloze(documents: Any, n_per_doc: int = 1, seed: int = 42, min_words: int = 5,
                  keep_sentence: bool | float = False) -> Made:
    """The inverse cloze task (Lee et al. 2019): a sentence of a passage is the query, the rest of
    the passage its document (introduced in 08_make_pairs).

    Up to ``n_per_doc`` sentences of ``min_words`` words or more per document, drawn with ``seed``
    and the document's text (the order of the documents does not matter). The sentence leaves its
    passage unless ``keep_sentence``: True always, a number is the chance (the paper: 10%, so word
    overlap still counts a little). A title heads the positive, never drawn. A document with one
    sentence, or none long enough, is in ``removed``."""
    n_per_doc = check_whole(n_per_doc, "n_per_doc", DataError)
    if not 0 <= (keep := float(keep_sentence)) <= 1:
        raise DataError(f"keep_sentence must be True, False or a chance from 0 to 1, got "
                        f"{keep_sentence!r}.")
    docs = documents_from(documents)
    kept, removed = [], []
    for d in docs:
        sentences = split_sentences(d.text)
        usable = [i for i, s in enumerate(sentences) if len(words(s)) >= min_words]
        if len(sentences) < 2 or not usable:
            reason = ("fewer than two sentences" if len(sentences) < 2
                      else f"no sentence of {min_words} words or more")
            removed.append({"anchor": "", "positive": d.full, "reason": reason, "origin": ""})
            continue
        rng = random.Random(f"{seed}:{d.full}")
        for i in sorted(rng.sample(usable, min(n_per_doc, len(usable)))):
            kept_in = rng.random() < keep
            rest = " ".join(s for j, s in enumerate(sentences) if j != i or kept_in)
            kept.append({"anchor": sentences[i], "positive": article_text(d.title, rest),
                         "origin": f"sentence {i + 1} of {len(sentences)}"
                                   + (" (kept in)" if kept_in else "")})
    return _made(kept, removed, method="inverse_cloze", documents=len(docs), seed=seed)


# ---- 2. queries written by a generator model -----------------------------------------------------
def parse_query(text: str, max_words: int = MAX_QUERY_WORDS) -> tuple[str, str | None]:
    """A generator's output as one query: (query, None), or (text, why it is no query)
    (introduced in 08_make_pairs). The first line with something in it, without a <think> block,
    code fences, a preamble ending in ':' ("Here is a query:"), a bullet or number ("1.", "2)",
    "-"), a label ("Query:", "Search query 1:", "**Keywords:**") or the quotes around it."""
    text = re.sub(r"<think>.*?(</think>|$)", "", str(text), flags=re.DOTALL | re.IGNORECASE)
    label = re.compile(r"^(?:\*\*)?(?:(?:search|keyword|expert|typo)\s+)?(?:query|question|"
                       r"search|keywords?|answer|output)\s*\d*\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?",
                       re.IGNORECASE)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("```") or (line[-1] in ":：" and not label.match(line)):
            continue
        line = re.sub(r"^(?:[-*•·]+|\(?\d{1,2}[.):]|#+)\s+", "", line)
        line = label.sub("", line).strip().strip("*_").strip()
        while len(line) > 1 and line[0] in "\"'“”‘’«»„`" and line[-1] in "\"'“”‘’«»`":
            line = line[1:-1].strip()
        if line:
            return line, f"longer than {max_words} words" if len(line.split()) > max_words else None
    return "", "empty output"


def build_prompt(document: str, style: str, language: str | None = None) -> str:
    """The request for one query of one style (``STYLES[name]`` or your own words) about one
    document, in its own language unless ``language`` names one (introduced in 08_make_pairs)."""
    doc_words = str(document).split()
    if len(doc_words) > DOC_WORDS:
        document = " ".join(doc_words[:DOC_WORDS]) + " …"
    where = f"in {language}" if language else "in the same language as the document"
    return PROMPT.format(document=document, style=style, language=f"Write it {where}.")


def _from_name(name: str, kind: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # fp16 on a T4, bf16 from Ampere on; fp32 on a CPU (bf16 pays only on some) and on MPS
    dtype = torch.float32 if kind != "cuda" else (
        torch.bfloat16 if device_module.detect().bf16 else torch.float16)
    local = resolve_path(name)
    if local.is_dir():
        tries = [(str(local), {})]
    elif "/" in name and not name.startswith((".", "/", "~")):
        tries = [(name, {"local_files_only": True})] + [(name, {})] * network.is_online()
    else:
        raise ModelNotFound(f"{name!r} is neither a folder (here or at the repository root) nor a "
                            f"Hugging Face model id such as {DEFAULT_GENERATOR}.")
    problem = None  # why the last try failed
    for source, extra in tries:
        if download := not extra and not local.is_dir():  # the cache has no copy: the hub has
            print(f"Downloading {name} from the Hugging Face hub, once (the default: about 1 GB)")
        try:
            with quiet.libraries(bars=download):
                model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype,
                                                             trust_remote_code=False, **extra)
                return model, AutoTokenizer.from_pretrained(source, **extra)
        except Exception as exc:  # noqa: BLE001 (every way of failing: one message below)
            problem = paths.brief_error(exc)
    if local.is_dir():
        raise ModelNotFound(f"{paths.show(local)} holds no generator model that could be loaded "
                            f"({problem}). Save it there again or point to another folder.")
    if len(tries) == 1:
        raise ModelNotFound(OFFLINE.format(name=name))
    raise ModelNotFound(f"Could not download {name} from the hub ({problem}); title_pairs and "
                        "inverse_cloze make pairs without any model.")


def load_generator(model: Any = DEFAULT_GENERATOR, device: str | None = None) -> Pipeline:
    """A text-generation pipeline from a hub id, a local folder, a model object, a (model,
    tokenizer) tuple or a pipeline (kept as it is) (introduced in 08_make_pairs). On ``device``
    (default ``device.detect()``): fp16 on a T4, bf16 on newer GPUs, else fp32. A model that cannot
    be had is one plain :class:`models.ModelNotFound`, never a library traceback."""
    from transformers import Pipeline, pipeline

    if isinstance(model, Pipeline):
        pipe = model
    else:
        kind, tokenizer = device or device_module.detect().kind, None
        if isinstance(model, tuple):
            model, tokenizer = model
        elif isinstance(model, (str, Path)):
            model, tokenizer = _from_name(str(model), kind)
        try:  # a model object without a tokenizer: the pipeline looks for its tokenizer
            with quiet.libraries(bars=False):
                pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device=kind)
        except Exception as exc:  # noqa: BLE001
            raise ModelNotFound(f"No text-generation pipeline from this model "
                                f"({paths.brief_error(exc)}); pass (model, tokenizer).") from None
    if pipe.tokenizer.pad_token is None:  # batching needs one
        pipe.tokenizer.pad_token = pipe.tokenizer.eos_token
    return pipe


def model_slug(pipe: Pipeline) -> str | None:
    """The generator's cache folder name (introduced in 08_make_pairs): the hub id, or a folder's
    name and a hash of its files' sizes and times; None for a model without a name (no cache)."""
    name = str(getattr(pipe.model, "name_or_path", "") or "")
    folder = Path(name).expanduser()
    if name and folder.is_dir():
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                       for p in folder.iterdir() if p.is_file())
        name = f"{folder.resolve().name}-{hashlib.sha256(repr(files).encode()).hexdigest()[:10]}"
    return re.sub(r"[^\w.-]+", "-", name.replace("/", "--")) or None


class _SeededSampling:
    """Sampling with one random stream per request, seeded from its cache key, so a query does not
    depend on its batch (a resumed run writes what an uninterrupted one writes). Gumbel-max: the
    argmax of the tempered, top-p cut scores plus Gumbel noise samples their softmax."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float):
        import torch
        from transformers import TopPLogitsWarper
        self.streams = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, TopPLogitsWarper(top_p)

    def __call__(self, input_ids, scores):
        import torch
        scores = self.top_p(input_ids, scores.float() / self.temperature)
        noise = torch.stack([torch.rand(scores.shape[1], generator=g) for g in self.streams])
        return scores + (-torch.log(-torch.log(noise.clamp_min(1e-12)))).to(scores.device)


def _run_batch(pipe: Pipeline, prompts: list[str], seeds: list[int], chat: bool,
               temperature: float, max_new_tokens: int) -> list[str]:
    from transformers import GenerationConfig, LogitsProcessorList

    inputs = [[{"role": "user", "content": p}] if chat else p + PLAIN_SUFFIX for p in prompts]
    # Greedy over the scores _SeededSampling perturbs, with neutral sampling settings (the model's
    # own generation_config may ask to sample, and generate would warn that they are unused).
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, temperature=1.0,
                              top_p=1.0, top_k=50)
    sampler = [_SeededSampling(seeds, temperature, 0.9)] if temperature > 0 else []
    with quiet.libraries():
        out = pipe(inputs, batch_size=len(inputs), return_full_text=False,
                   generation_config=config, logits_processor=LogitsProcessorList(sampler))
    return [o[0]["generated_text"] for o in out]


def _read_entry(path: Path, key: str) -> str:
    entry = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entry, dict) or entry.get("key") != key or type(entry.get("raw")) is not str:
        raise ValueError("not the generated query of this request")
    return entry["raw"]


def generate_queries(documents: Any, model: Any = DEFAULT_GENERATOR, n_per_doc: int = 2,
                     styles: Sequence[str] | Mapping[str, str] = tuple(STYLES),
                     batch_size: int = 8, max_new_tokens: int = 40, seed: int = 42,
                     device: str | None = None, cache: bool = True, language: str | None = None,
                     temperature: float = 0.7, max_words: int = MAX_QUERY_WORDS,
                     progress: bool = True) -> Made:
    """Queries written by a generator model, ``n_per_doc`` per document (introduced in
    08_make_pairs). ``model``: see :func:`load_generator` (default :data:`DEFAULT_GENERATOR`).

    One request per query, in one style: names from :data:`STYLES` or a dict {name: instruction}; a
    document's queries take turns through the styles from a start drawn with ``seed``. The prompt
    asks for the document's language (or ``language``), as a chat message when the tokenizer has a
    chat template, else as a plain prompt ending in "Query:". Seeded sampling (``temperature``,
    top-p 0.9; 0: greedy), a random stream per request: a query depends on neither batch nor order.
    Each raw output is cached under ``paths.cache_dir("synth", <model>)``, keyed by a hash of the
    model, :data:`PROMPT_VERSION`, the prompt (style, language, document), seed, index and decoding
    settings, written atomically: an interrupted run resumes, a second run generates nothing, a
    damaged file is made again. :func:`parse_query` reads the outputs; empty or overlong ones (over
    ``max_words``) are in ``removed``.
    """
    from tqdm.auto import tqdm

    n_per_doc = check_whole(n_per_doc, "n_per_doc", DataError)
    batch_size = check_whole(batch_size, "batch_size", DataError)
    max_new_tokens = check_whole(max_new_tokens, "max_new_tokens", DataError)
    style_text = dict(styles) if isinstance(styles, Mapping) else {s: STYLES.get(s) for s in styles}
    if not style_text or None in style_text.values():
        raise DataError(f"Styles are names from {', '.join(STYLES)} or a dict {{name: "
                        f"instruction}}, got {styles!r}.")
    docs = [d for d in documents_from(documents) if d.text]
    start = time.perf_counter()
    pipe = load_generator(model, device)
    slug = model_slug(pipe)
    folder = paths.cache_dir("synth", slug) if cache and slug else None
    chat = bool(getattr(pipe.tokenizer, "chat_template", None))
    names, requests = list(style_text), []  # (document, style, index, prompt, key, cache file)
    for d in docs:
        first = int(hashlib.sha256(f"{seed}:{d.full}".encode()).hexdigest(), 16) % len(names)
        for i in range(n_per_doc):
            style, index = names[(first + i) % len(names)], i // len(names)
            prompt = build_prompt(d.full, style_text[style], language)
            key = hashlib.sha256(json.dumps([slug, PROMPT_VERSION, chat, style, prompt, seed, index,
                                             temperature, max_new_tokens]).encode()).hexdigest()
            path = folder / key[:2] / f"{key}.json" if folder is not None else None
            requests.append((d, style, index, prompt, key, path))
    raw = {r[4]: paths.read_cache(r[5], lambda p, k=r[4]: _read_entry(p, k)) for r in requests
           if folder is not None}
    raw = {key: text for key, text in raw.items() if text is not None}
    pending = sorted({r[4]: r for r in requests if r[4] not in raw}.values(),
                     key=lambda r: len(r[3]))  # similar lengths: less padding in a batch
    with tqdm(total=len(pending), desc="Writing queries", unit="query",
              disable=not progress or not pending) as bar:
        for b in range(0, len(pending), batch_size):
            batch = pending[b:b + batch_size]
            outputs = _run_batch(pipe, [r[3] for r in batch], [int(r[4][:15], 16) for r in batch],
                                 chat, temperature, max_new_tokens)
            for (d, style, index, _, key, path), text in zip(batch, outputs):
                raw[key] = text
                if path:
                    paths.write_atomic(path, json.dumps({"key": key, "raw": text, "style": style,
                                                         "model": slug}, ensure_ascii=False))
            bar.update(len(batch))
    kept, removed = [], []
    for d, style, index, _, key, _ in requests:
        query, problem = parse_query(raw[key], max_words)
        row = {"anchor": query, "positive": d.full,
               "origin": f"{style} #{index + 1}" if index else style}
        (removed if problem else kept).append({**row, "reason": problem} if problem else row)
    seconds, from_cache = time.perf_counter() - start, len(set(raw)) - len(pending)
    made = _made(kept, removed, method="generate_queries", model=slug or "(unnamed model)",
                 documents=len(docs), requests=len(requests), generated=len(pending),
                 from_cache=from_cache, prompt_format="chat" if chat else "plain",
                 device=str(pipe.device), seconds=round(seconds, 1),
                 cache=paths.show(folder) if folder is not None else None)
    print(f"{len(requests):,} queries for {plural(len(docs), 'document')}: "
          f"{len(pending):,} written now on {pipe.device} in {seconds:.0f} s, {from_cache:,} from "
          f"the cache{'' if folder else ' (off)'}; {len(made.removed):,} unusable")
    return made


# ---- 3. filters ----------------------------------------------------------------------------------
def _rows(pairs: Made | Pairs) -> list[dict]:
    """Pairs in any form (a Made keeps its origins) as dicts: anchor, positive, origin."""
    if isinstance(pairs, Made):
        return pairs.table().to_dict("records")
    df, _, label = as_frame(pairs)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(f"{label} has no anchor/positive columns (query/document work too).")
    return df[["anchor", "positive"]].assign(origin="").to_dict("records")


def dedupe(pairs: Made | Pairs) -> Made:
    """Remove repeated queries, compared exactly and after normalising (case, Unicode form,
    punctuation, spaces) (introduced in 08_make_pairs). The first of equal queries for one document
    is kept. A query asked of two or more different documents is removed every time: too generic
    to point to one, and training it towards each pulls it between them."""
    rows, docs, seen, kept, removed = _rows(pairs), {}, {}, [], []
    for r in rows:
        docs.setdefault(" ".join(words(r["anchor"])), set()).add(normalize(r["positive"]))
    for r in rows:
        if len(docs[key := " ".join(words(r["anchor"]))]) > 1:
            removed.append({**r, "reason": f"the same query for {len(docs[key])} documents"})
        elif key in seen:
            removed.append({**r, "reason": "repeats an earlier query" + (
                "" if seen[key] == r["anchor"] else " (after normalising)")})
        else:
            seen[key] = r["anchor"]
            kept.append(r)
    return _made(kept, removed, method="dedupe")


def copy_overlap(query: str, document: str, n: int = 3) -> float | None:
    """The share of the query's word n-grams found word for word in the document (0 to 1), or None
    when the query has fewer than ``n`` words (introduced in 08_make_pairs)."""
    q, d = words(query), words(document)
    grams = {tuple(q[i:i + n]) for i in range(len(q) - n + 1)}
    found = {tuple(d[i:i + n]) for i in range(len(d) - n + 1)}
    return len(grams & found) / len(grams) if grams else None


def drop_copies(pairs: Made | Pairs, max_overlap: float = 0.6, n: int = 3) -> Made:
    """Remove queries that copy their document (introduced in 08_make_pairs): its words are the
    document's first words, or more than ``max_overlap`` of its word ``n``-grams (``n`` words in a
    row, as :func:`words` reads them) are in the document (:func:`copy_overlap`). Queries under
    ``n`` words face the first rule only (two words of the document are a keyword search, not a
    copy). Copies teach word matching, which the base model does already, not how people ask."""
    if not 0 <= max_overlap <= 1:
        raise DataError(f"max_overlap must be a share from 0 to 1, got {max_overlap!r}.")
    n, kept, removed = check_whole(n, "n", DataError), [], []
    for r in _rows(pairs):
        overlap = copy_overlap(r["anchor"], r["positive"], n) or 0
        if _starts_with(words(r["positive"]), words(r["anchor"])):
            removed.append({**r, "reason": "the query is the document's first words"})
        elif overlap > max_overlap:
            removed.append({**r, "reason": f"over {max_overlap:.0%} of its {n}-word runs are in "
                                           "the document"})
        else:
            kept.append(r)
    return _made(kept, removed, method="drop_copies", max_overlap=max_overlap, n=n)


def round_trip(pairs: Made | Pairs, model: SentenceTransformer,
               corpus: Iterable[str] | Mapping[str, str] | None = None, k: int = 5,
               progress: bool = False) -> Made:
    """Keep a query only if the retrieval ``model`` (``metrics.search``) finds its own document in
    its top ``k``: round-trip consistency, as in Promptagator (introduced in 08_make_pairs).
    ``corpus``: all your documents (texts or {id: text}; the positives are added), so a query that
    fits another document better is removed."""
    k, rows = check_whole(k, "k", DataError), _rows(pairs)
    texts = list(corpus.values()) if isinstance(corpus, Mapping) else list(corpus or [])
    texts = dict.fromkeys(texts + [r["positive"] for r in rows])
    doc_ids = {t: f"d{i}" for i, t in enumerate(texts)}
    run = {}
    if rows:
        split = {"queries": {f"q{i}": r["anchor"] for i, r in enumerate(rows)},
                 "corpus": {i: t for t, i in doc_ids.items()}}
        with quiet.libraries(model, bars=progress):
            run = metrics.search(model, split, k=k, show_progress_bar=progress)
    found = [doc_ids[r["positive"]] in run.get(f"q{i}", {}) for i, r in enumerate(rows)]
    kept = [r for r, ok in zip(rows, found) if ok]
    removed = [{**r, "reason": f"its document is not in the top {k}"}
               for r, ok in zip(rows, found) if not ok]
    return _made(kept, removed, method="round_trip", k=k, corpus=len(doc_ids))


def clean(pairs: Made | Pairs, model: SentenceTransformer,
          corpus: Iterable[str] | Mapping[str, str] | None = None, k: int = 5,
          max_overlap: float = 0.6, progress: bool = False) -> Made:
    """``dedupe``, ``drop_copies``, then ``round_trip`` (the one with a model, on what is left)
    (introduced in 08_make_pairs). ``removed`` has a ``step`` column (the filter);
    ``stats["removed_by"]`` counts per filter."""
    import pandas as pd

    steps = [("dedupe", dedupe), ("drop_copies", lambda p: drop_copies(p, max_overlap)),
             ("round_trip", lambda p: round_trip(p, model, corpus, k, progress))]
    made, removed, counts, start = pairs, [], {}, len(_rows(pairs))
    for name, step in steps:
        made = step(made)
        removed += [{**r, "step": name} for r in made.removed.to_dict("records")]
        counts[name] = len(made.removed)
    stats = {**made.stats, "method": "clean", "start": start, "removed": len(removed),
             "removed_by": counts,
             "reasons": dict(Counter(r["reason"] for r in removed).most_common())}
    table = pd.DataFrame(removed, columns=["anchor", "positive", "reason", "origin", "step"])
    return Made(made.pairs, table, stats, made.origin)


__all__ = ["DEFAULT_GENERATOR", "MAX_QUERY_WORDS", "PROMPT", "PROMPT_VERSION", "STYLES", "Doc",
           "Made", "build_prompt", "clean", "copy_overlap", "dedupe", "documents_from",
           "drop_copies", "generate_queries", "inverse_cloze", "load_generator", "model_slug",
           "parse_query", "round_trip", "split_sentences", "title_pairs", "words"]
