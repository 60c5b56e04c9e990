"""What a model method does to generation: sampling under a handle, the language of what comes
out, and the sweep of target-language rate against perplexity."""

from langsteer.generation.sampling import check_sampling_options, generate_samples

__all__ = ["check_sampling_options", "generate_samples"]
