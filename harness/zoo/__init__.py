"""The model zoo: one registry over torchvision and timm, weights, checkpoints, class lists."""
