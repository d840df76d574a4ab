//! SimClock: virtual time per node with optional skew and drift. (being built)
