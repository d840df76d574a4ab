//! Fault plans: a list of (time, fault) as data, JSON (de)serialisable, generated swarm-style from a seed or written by hand. (being built)
