"""The novelty rule: ROUGE-L arithmetic, the index, postings, LCS kernels, neighbours, the pool."""
