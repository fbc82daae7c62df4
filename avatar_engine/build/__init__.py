"""photo -> Avatar: perception, fit, texture, hair, rig; one module per stage."""
