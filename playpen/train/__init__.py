"""Training recipes: SFT and DPO on TRL, GRPO on TRL's ``GRPOTrainer`` with our multi-turn rollouts, evaluation
during training, and the experiment runner (data -> base evaluation -> training per seed -> report)."""
