"""Images and labels: finding and decoding files, samples, transforms, the DataModule."""
