//! RealClock: std::time::Instant relative to the runtime start. (being built)
