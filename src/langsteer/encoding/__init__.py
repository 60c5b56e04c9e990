"""Forward passes that record what a study needs, pooled inside the hooks and cached: pooled
unit responses, per-language token statistics and per-layer sentence embeddings."""
