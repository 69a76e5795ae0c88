"""The closed loop: retrain plugins (plugins), retrain-evaluate-register (retrain, and the trainer's
own process: train_child), canary rollouts (rollout, rollout_db) and the controller that ticks them
(controller). Transport-free."""
