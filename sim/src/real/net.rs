//! RealNet: std TCP on loopback with a small event-loop thread feeding NetEvents. (being built)
