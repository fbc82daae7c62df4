"""Synthetic people for training and evaluating the learned stages: random identities, expressions, skin
colouring, hair, lighting, cameras and backgrounds, rendered by our renderer with MediaPipe run on the renders."""
