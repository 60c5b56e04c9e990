"""Human-readable outputs: terminal summaries, Markdown and a self-contained HTML report."""
