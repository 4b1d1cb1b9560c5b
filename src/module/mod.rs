//! The modules API (Redis `redismodule.h` ABI). Populated by the modules work; nothing is exported yet.
