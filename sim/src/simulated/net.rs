//! SimNet: connections with ordered delivery, latency and jitter, partitions, clogging, resets. (being built)
