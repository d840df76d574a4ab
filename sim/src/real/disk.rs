//! RealDisk: std::fs + memmap2 + fdatasync + flock. (being built)
