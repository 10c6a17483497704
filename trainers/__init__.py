"""sentcse training: the Trainer subclass, objectives, data and the STS evaluator."""
