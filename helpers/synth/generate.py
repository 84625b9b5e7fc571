"""Queries written by a generator model (08_make_pairs): a small instruction-tuned model from the
hub, or any text-generation model, over the transformers pipeline; batched, seeded per request,
resumable through a cache, on any device, one plain error when the model cannot be had.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import device as device_module
from .. import network, paths, quiet
from ..data.containers import DataError, plural
from ..data.files import resolve_path
from ..errors import check_whole
from ..models import ModelNotFound
from .builders import Made, collect, documents_from

if TYPE_CHECKING:
    from transformers import Pipeline


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


class SeededSampling:
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
    # Greedy over the scores SeededSampling perturbs, with neutral sampling settings (the model's
    # own generation_config may ask to sample, and generate would warn that they are unused).
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, temperature=1.0,
                              top_p=1.0, top_k=50)
    sampler = [SeededSampling(seeds, temperature, 0.9)] if temperature > 0 else []
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
    made = collect(kept, removed, method="generate_queries", model=slug or "(unnamed model)",
                 documents=len(docs), requests=len(requests), generated=len(pending),
                 from_cache=from_cache, prompt_format="chat" if chat else "plain",
                 device=str(pipe.device), seconds=round(seconds, 1),
                 cache=paths.show(folder) if folder is not None else None)
    print(f"{len(requests):,} queries for {plural(len(docs), 'document')}: "
          f"{len(pending):,} written now on {pipe.device} in {seconds:.0f} s, {from_cache:,} from "
          f"the cache{'' if folder else ' (off)'}; {len(made.removed):,} unusable")
    return made
