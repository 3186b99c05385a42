"""Running a model: the LightningModule, Trainer runs, recovery, speed-ups, results files."""
