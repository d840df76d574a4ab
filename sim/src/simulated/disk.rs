//! SimDisk: durable image + volatile overlay per file and directory entry, seeded faults. (being built)
