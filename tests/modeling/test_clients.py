"""A trained folder in the clients users already have: ``pipeline("feature-extraction")``,
``AutoModel.from_pretrained(..., dtype=torch.bfloat16)`` and ``torch.compile`` on a saved SARCSE folder.
(sentence-transformers with its own evaluator: tests/trainers/sts/test_sts.py; ``AutoTokenizer``:
tests/modeling/test_remote_code.py; ``torch.export``: tests/modeling/test_modeling.py.)"""

import numpy as np
import pytest
import torch
from tiny import tiny_model, tiny_tokenizer

from sentcse.modeling import SarcseModel

SENTENCES = ["the cat sat on the mat", "a dog", "the big red mat"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = tiny_model(SarcseModel, tokenizer)
    path = tmp_path_factory.mktemp("clients") / "sarcse"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_feature_extraction_pipeline_returns_the_sentence_embedding(folder):
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(folder)
    extractor = pipeline("feature-extraction", model=model, tokenizer=model.get_tokenizer(), device="cpu")
    for sentence in SENTENCES:
        vector = np.asarray(extractor(sentence)).reshape(-1)
        np.testing.assert_allclose(vector, model.encode([sentence])[0], rtol=1e-5, atol=1e-6)


def test_a_bf16_load_encodes_like_the_fp32_one(folder):
    from transformers import AutoModel

    fp32 = AutoModel.from_pretrained(folder).encode(SENTENCES, normalize=True)
    bf16_model = AutoModel.from_pretrained(folder, dtype=torch.bfloat16)
    assert next(bf16_model.parameters()).dtype == torch.bfloat16
    bf16 = bf16_model.encode(SENTENCES, normalize=True)
    assert bf16.dtype == np.float32
    assert np.abs((fp32 * bf16).sum(axis=1) - 1).max() < 2e-2  # cosine to the fp32 embedding


def test_torch_compile_matches_eager(folder):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    batch = model.get_tokenizer()(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        eager = model(**batch).sentence_embedding
        # torch.compile as users call it, on a CI-cheap backend (dynamic shapes: the torch.export tests)
        compiled_model = torch.compile(model, backend="aot_eager")
        compiled = compiled_model(**batch).sentence_embedding
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
