"""Building blocks shared by the ranking models (FuxiCTR-style: blocks, thin models)."""
