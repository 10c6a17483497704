"""Tools that make inputs rather than measure them: ``pretrain_substrate`` (masked-language-model pretraining of
the bundled backbone, with its stop rule). Run as ``python -m bench.tools.<name>``."""
