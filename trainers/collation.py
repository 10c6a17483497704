"""Collation and order of the training data: the two-view collator and the epoch-reshuffled corpus."""

from collections.abc import Sequence

import numpy as np
import torch
from datasets import Dataset

from ..modeling.inputs import check_max_length


class EpochShuffled(torch.utils.data.Dataset):
    """A converted corpus in a new random order each epoch, for sequential sampling: the order is a numpy
    permutation of (seed, epoch), 4 bytes a sentence, where torch's RandomSampler holds it as a Python list (about
    40 bytes a sentence: 190 MiB for 5M sentences). accelerate's data loader calls ``set_epoch`` every epoch (also
    on resume, before it skips the batches already trained)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset)).astype(np.uint32)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, str]:
        return self.dataset[int(self.order[index])]

    def __getitems__(self, indices: list[int]) -> list[dict[str, str]]:
        batch = self.dataset[self.order[indices].tolist()]
        return [dict(zip(batch, row)) for row in zip(*batch.values())]


class TwoViewCollator:
    """Tokenise a batch and stack it twice (rows ``[:B]`` first, ``[B:]`` second), right-padded to its longest row.

    Training examples (``{"sentence": ...}``): both halves are the same B sentences; the two views differ only by
    the dropout masks of the forward pass (SimCSE); they are truncated at ``max_length``. Evaluation examples
    (``{"sentence1", "sentence2", "score"}``, STS pairs): the halves are the pairs' first and second sentences,
    truncated only at ``pair_max_length`` (default: the tokenizer's limit; pass the model's ``max_input_length`` so
    the pairs are read as ``encode`` reads them), and ``labels`` holds the gold scores.
    """

    def __init__(self, tokenizer, max_length: int = 32, pair_max_length: int | None = None,
                 pad_to_max_length: bool = False):
        if max_length is not None:  # None: the tokenizer's own limit
            check_max_length(max_length, tokenizer)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pair_max_length = pair_max_length
        # Training batches padded to max_length: a streamed corpus on several processes is read by process 0 and
        # its batches concatenated, which needs one length (the models' length groups strip the padding again).
        self.pad_to_max_length = pad_to_max_length

    def _tokenize(
        self, sentences: list[str], max_length: int | None, pad_to_max: bool = False
    ) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            sentences, padding="max_length" if pad_to_max else True, truncation=True, max_length=max_length,
            return_tensors="pt", padding_side="right"
        )
        return {key: value for key, value in batch.items() if key in ("input_ids", "attention_mask", "token_type_ids")}

    def __call__(self, examples: Sequence[dict[str, str]]) -> dict[str, torch.Tensor]:
        if examples and "sentence1" in examples[0]:
            pairs = [e["sentence1"] for e in examples] + [e["sentence2"] for e in examples]
            batch = self._tokenize(pairs, self.pair_max_length)
            batch["labels"] = torch.tensor([float(e["score"]) for e in examples])
            return batch
        batch = self._tokenize([example["sentence"] for example in examples], self.max_length,
                               self.pad_to_max_length and self.max_length is not None)
        return {key: torch.cat([value, value]) for key, value in batch.items()}
