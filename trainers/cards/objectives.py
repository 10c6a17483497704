"""How a card describes the contrastive objective: names, formulas, variants, and the gradient-paradigm paper."""

from typing import Any, Dict

# name -> (title, formula name, description).
OBJECTIVES = {
    "infonce": ("InfoNCE", "InfoNCE", "CE(sim(h1_i, h2_j) / tau, label = i) over the in-batch negatives."),
    "arccon": ("ArcCon", "ArcCon", "InfoNCE with an additive angular margin on the positive: its logit is "
               "cos(theta_ii + u), u = 10 degrees by default; in the gradient paradigm GD and W are InfoNCE's and "
               "R = sin(theta_ii + u) / sin(theta_ii)."),
    "mpt": ("MPT (margin product triplet)", "MPT", "[max_j s_ij - s_ii + m]_+ on cosine similarities (m = 0.23 by "
            "default): GD is 1 inside the margin, W one-hot on the hardest negative, R = 1."),
    "met": ("MET (margin Euclidean triplet)", "MET", "[d_ii - min_j d_ij + m]_+ on the distances d = sqrt(2 - 2s) "
            "(m = 0.45 by default): W one-hot on the closest negative, R = d_ik / d_ii."),
    "barlow_twins": ("Barlow Twins", "BarlowTwins", "A non-contrastive objective (cross-correlation of the two "
                     "views), as the paper's code writes it: a gradient-equivalent surrogate."),
    "vicreg": ("VICReg", "VICReg", "A non-contrastive objective (variance-invariance-covariance), as the paper's "
               "code writes it: a gradient-equivalent surrogate."),
    "mhe": ("MHE (minimum hyperspherical energy)", "MHE", "A non-contrastive uniformity objective: alignment of the "
            "two views plus the log-sum-exp energy of each view's pairwise similarities."),
    "mhs": ("MHS (maximum hyperspherical separation)", "MHS", "A non-contrastive uniformity objective: alignment of "
            "the two views plus the (negated) distance of each embedding to its nearest other-view neighbour."),
}
VARIANT_TEXT = {
    "orig": "Variant `orig`: the original objective (its gradient lacks the paradigm's components, which is why "
            "it does poorly on STS).",
    "mod": "Variant `mod`: modified as the paper proposes, adding the three components: gradient dissipation "
           "(`w_gd`, a margin on the same-view similarities), the weight (`w_w`, a softmax over negatives with a "
           "temperature) and the ratio (`w_r`).",
}

# Cited by every card of a model trained with an objective other than InfoNCE.
GRADIENT_PARADIGM_CITATION = """@inproceedings{li2024unified,
  title     = {Towards Better Understanding of Contrastive Sentence Representation Learning: \
A Unified Paradigm for Gradient},
  author    = {Li, Mingxin and Zhang, Richong and Nie, Zhijie},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics \
(Volume 1: Long Papers)},
  year      = {2024},
  publisher = {Association for Computational Linguistics},
  url       = {https://aclanthology.org/2024.acl-long.780},
  eprint    = {2402.18281},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""


def objective_info(config) -> Dict[str, Any]:
    """The template's ``objective``: name, title, formula, variant, kwargs, description, is_gradient_paradigm."""
    title, formula, description = OBJECTIVES.get(config.objective, (config.objective, config.objective, ""))
    variant = config.objective_variant
    if variant:
        title = f"{title} ({variant})"
        description = f"{description} {VARIANT_TEXT.get(variant, '')}".strip()
    return {
        "name": config.objective,
        "title": title,
        "formula": formula,
        "variant": variant,
        "kwargs": dict(config.objective_kwargs or {}),
        "description": description,
        "is_gradient_paradigm": config.objective != "infonce",
    }


__all__ = ["GRADIENT_PARADIGM_CITATION", "OBJECTIVES", "VARIANT_TEXT", "objective_info"]
