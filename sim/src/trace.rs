//! The trace: every event as (time, node, kind, payload digest), a stable rolling 64-bit trace hash, and a human rendering. (being built)
