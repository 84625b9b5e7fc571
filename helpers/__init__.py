"""helpers: the small, tested package behind the Fine-tuning Embeddings workbook.

One module per idea, each introduced by one lesson and reused by the others:

* 00_setup: ``device`` (what hardware, which precision), ``network`` (is the hub reachable),
  ``environment`` (versions and device in one table), ``models`` (load a model from wherever it can
  be had), ``profiles`` (smoke / cpu / gpu sizes), ``paths``, ``results``, ``runtimes``, ``quiet``
  (hide library chatter), ``errors`` (``WorkbookError``, the base of every error we raise);
* 02_training_data: ``data`` (bundled datasets, your pair files, validation, hard-negative mining);
* 03_fine_tuning: ``training`` (``fine_tune`` over the Trainer, with a cache);
* 04_matryoshka: ``matryoshka`` and ``ui`` (widgets that work in JupyterLab and Colab, also in 05
  and 06); 05_evaluation: ``metrics`` (ranking metrics, search, paired comparison) and ``explore``;
  06_try_it_yourself: ``tryit``; 07_when_to_fine_tune: ``curves`` (learning curves) and ``costs``
  (time and money); 08_make_pairs: ``synth`` (pairs from your documents: title pairs, inverse
  cloze, queries written by a small generator, the filters that clean them, and made pairs measured
  against human ones); 09_scale_out: ``train`` (the command line over ``fine_tune``, one process
  or many under torchrun), ``vector_index`` (a real index over a million vectors) and ``publish``
  (a model card and the hub); ``plots`` draws for all of them.

Import what you need: ``from helpers import device, models, data``. Importing opens no network
connection: ``profiles.start`` (the first call of every lesson) decides that, once.
Build tooling (running and recording notebooks, the workshop folder) lives in ``tools/``, outside
the package.
"""
__version__ = "0.1.0"
