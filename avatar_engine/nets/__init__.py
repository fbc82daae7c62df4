"""Learned builder stages (issue 5): features, inference from ONNX, and training (torch, [infer] extra)."""
