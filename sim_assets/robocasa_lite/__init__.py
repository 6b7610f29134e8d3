"""Generator of the RoboCasa lite asset pack (primitive fixtures, plain textures, one object per category)."""
