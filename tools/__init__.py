"""Build tooling: run and record notebooks (``pipeline``), prepare an offline room (``workshop``),
Colab's pins, setup cell and repository URL (``colab``; ``colab_setup`` runs in the setup cell)."""
