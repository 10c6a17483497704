"""Scripts that need a CUDA device: ``gpu_check`` (the prepared one-call GPU check; ``--dry_run`` runs its code
path on CPU), ``gpu_scale`` (paper-scale runs) and ``gpu_pack.sh`` (what a device call must carry). Run as
``python -m bench.gpu.<name>`` from the repository root."""
