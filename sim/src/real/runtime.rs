//! The real runtime: drives one Actor from a small event loop with the real clock, disk and network. (being built)
