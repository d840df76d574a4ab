//! The discrete-event world: event queue ordered by (time, sequence), nodes as actors, crash/restart/pause, timers, run loops. (being built)
