//! BUGGIFY: sites activated once per run from the seed, then firing with small probability. (being built)
