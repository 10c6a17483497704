"""torch.export of SARCSE (both readings) with a dynamic batch and a length from 1 token: the exported program embeds
inputs of every length, a lone [CLS] and "[CLS] [SEP]" included, as eager does. (SimCSE and reCSE:
tests/modeling/test_modeling.py.)"""

import pytest
import torch
from tiny import tiny_model, tiny_tokenizer

from sentcse.modeling import SarcseModel

pytestmark = pytest.mark.usefixtures("single_thread")



@pytest.mark.parametrize("config", [{"embedding_source": "cls"}, {"embedding_source": "cnn", "cnn_pooling": "mean"}],
                         ids=["cls", "cnn-mean"])
def test_an_exported_sarcse_embeds_inputs_of_one_token_and_longer(config):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = tiny_model(SarcseModel, tokenizer, **config).eval()
    traced = tokenizer(["the cat sat on the mat", "a dog", "big red"], padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("length", min=1, max=64)
    inputs = {"input_ids": traced["input_ids"], "attention_mask": traced["attention_mask"]}
    program = torch.export.export(model, (), inputs, strict=False,
                                  dynamic_shapes={name: {0: batch, 1: length} for name in inputs})
    cls_only = torch.tensor([[tokenizer.cls_token_id]])
    cases = [{"input_ids": cls_only, "attention_mask": torch.ones_like(cls_only)}]  # 1 token
    for sentences in ([""], ["a"], ["hi", "ok"], ["the big red dog sat on the small blue mat fast " * 5, "a"]):
        encoded = tokenizer(sentences, padding=True, return_tensors="pt")
        cases.append({name: encoded[name] for name in inputs})
    lengths = [case["input_ids"].shape[1] for case in cases]
    assert lengths[:3] == [1, 2, 3] and lengths[-1] > traced["input_ids"].shape[1]
    with torch.no_grad():
        for case in cases:
            exported = program.module()(**case).sentence_embedding
            assert exported.shape == (case["input_ids"].shape[0], model.config.hidden_size)
            torch.testing.assert_close(exported, model(**case).sentence_embedding, rtol=1e-5, atol=1e-6)
