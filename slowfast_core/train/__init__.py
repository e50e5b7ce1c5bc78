"""Training: datasets (sessions, CSV, class folders), the paper's clip sampling and augmentation, the loop
(from scratch or fine-tuning, one process or torchrun/DDP), head-only teaching on cached features, multi-view
evaluation and the synthetic-actions generator. No Qt here."""
