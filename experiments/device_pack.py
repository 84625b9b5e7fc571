"""Pack what the tuning grid needs for a borrowed GPU machine that has no network (and unpack it there).

The GPU machine has PyTorch and transformers but not this project's sentence-transformers 6.2 nor
datasets, and it cannot download the model. Its working-tree allowance is 64 MiB, less than the
91 MB all-MiniLM-L6-v2 weights, so we carry them *losslessly for this data set*: every weight in fp32,
except that the word-embedding rows of tokens that never occur in the icd10cm texts are dropped (they
are never looked up, so the model computes exactly the same embeddings on this data). The bundle's
texts are frozen in a JSON snapshot so the grid runs on the very rows we use here.

    .venv/bin/python experiments/device_pack.py pack          # here: writes data/cache/gpu/
    python3 experiments/device_pack.py unpack /tmp/minilm     # there: rebuilds the model folder
"""
from __future__ import annotations

import json
import lzma
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACK = ROOT / "data" / "cache" / "gpu"
PACKAGES = ("sentence_transformers", "datasets", "dill", "multiprocess", "_multiprocess")
EMB = "embeddings.word_embeddings.weight"


def pack() -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from helpers import data, models

    bundle = data.load("icd10cm")
    snapshot = {"train": {c: list(bundle.train[c]) for c in bundle.train.column_names},
                "train_corpus": list(bundle.train_corpus),
                "test": {"queries": bundle.test.queries, "corpus": bundle.test.corpus,
                         "qrels": bundle.test.qrels},
                "info": bundle.info}
    if PACK.exists():
        shutil.rmtree(PACK)
    (PACK / "model").mkdir(parents=True)
    (PACK / "icd10cm.json").write_text(json.dumps(snapshot), encoding="utf-8")

    folder = models.bundled_path()
    model = models.load("all-MiniLM-L6-v2", verbose=False)
    texts = (snapshot["train"]["anchor"] + snapshot["train"]["positive"] + snapshot["train_corpus"]
             + list(bundle.test.queries.values()) + list(bundle.test.corpus.values()))
    ids = set(model.tokenizer.all_special_ids)
    for row in model.tokenizer(texts, add_special_tokens=True)["input_ids"]:
        ids.update(row)
    keep = np.array(sorted(ids), dtype=np.int64)

    weights = load_file(str(folder / "model.safetensors"))
    emb_key = next(k for k in weights if k.endswith(EMB))
    full_rows = weights[emb_key].shape[0]
    weights[emb_key] = np.ascontiguousarray(weights[emb_key][keep])
    weights["__kept_rows__"] = keep
    save_file(weights, str(PACK / "model" / "pruned.safetensors"),
              metadata={"emb_key": emb_key, "full_rows": str(full_rows)})
    raw = (PACK / "model" / "pruned.safetensors").read_bytes()
    (PACK / "model" / "pruned.safetensors.xz").write_bytes(lzma.compress(raw, preset=6))
    (PACK / "model" / "pruned.safetensors").unlink()
    for item in folder.iterdir():
        if item.name in ("model.safetensors", "README.md", "data_config.json", ".gitattributes"):
            continue
        if item.is_dir():
            shutil.copytree(item, PACK / "model" / item.name)
        else:
            shutil.copy2(item, PACK / "model" / item.name)

    import importlib
    site = Path(importlib.import_module("datasets").__file__).parent.parent
    for name in PACKAGES:
        src = site / name
        if src.exists():
            shutil.copytree(src, PACK / "pkgs" / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for meta in site.glob(f"{name}-*.dist-info"):  # importlib.metadata looks versions up there
            shutil.copytree(meta, PACK / "pkgs" / meta.name)
    total = sum(p.stat().st_size for p in PACK.rglob("*") if p.is_file())
    print(f"packed {len(keep):,} of {full_rows:,} vocabulary rows; {total / 2**20:.1f} MiB in "
          f"{PACK.relative_to(ROOT)}")


def unpack(target: str) -> None:
    import numpy as np
    from safetensors.numpy import save_file
    from safetensors import safe_open

    target = Path(target)
    shutil.copytree(PACK / "model", target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("pruned.safetensors.xz"))
    pruned = target / "pruned.safetensors"
    pruned.write_bytes(lzma.decompress((PACK / "model" / "pruned.safetensors.xz").read_bytes()))
    with safe_open(str(pruned), framework="np") as f:
        meta = f.metadata()
        weights = {k: f.get_tensor(k) for k in f.keys()}
    keep = weights.pop("__kept_rows__")
    emb_key = meta["emb_key"]
    rows = weights[emb_key]
    full = np.zeros((int(meta["full_rows"]), rows.shape[1]), dtype=rows.dtype)
    full[keep] = rows
    weights[emb_key] = full
    save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    pruned.unlink()
    print(f"unpacked the model into {target}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["pack"]:
        pack()
    elif sys.argv[1:2] == ["unpack"] and len(sys.argv) == 3:
        unpack(sys.argv[2])
    else:
        sys.exit(__doc__)
