"""sentcse-train's three phases: ``check`` decides everything into a ``RunPlan``; ``start`` and ``finish`` build on
it and change nothing of it (one config object from the flags to the model)."""

import copy
import dataclasses

from cli_runs import flags

from sentcse.modeling.configuration_simcse import declared_fields
from sentcse.trainers.cli.train import RunPlan, check, finish, start


def test_the_plan_is_built_once_and_never_changed(tmp_path, backbone, corpus):
    plan = check(flags(backbone, corpus, tmp_path / "out", "--method", "sarcse", "--theta", "0.3"))
    assert isinstance(plan, RunPlan) and not (tmp_path / "out").exists()  # nothing written by the checks
    arguments = copy.deepcopy(dataclasses.asdict(plan.training_args))
    fields = sorted(declared_fields(type(plan.config)))
    config = {name: getattr(plan.config, name) for name in fields}

    started = start(plan)
    assert started.trainer.model.config is plan.config  # the model takes the config the checks built
    assert started.trainer.args is plan.training_args
    assert plan.config.theta == 0.3 and plan.training_args.train_sampling_strategy == "sequential"  # decided up front
    started.trainer.train(resume_from_checkpoint=plan.resume)
    finish(plan, started)

    assert dataclasses.asdict(plan.training_args) == arguments
    assert {name: getattr(plan.config, name) for name in fields} == config  # save_pretrained adds only its own keys
    assert (tmp_path / "out" / "model.safetensors").is_file()
