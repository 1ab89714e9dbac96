package main

import "runtime"

// profileMemory turns Go's heap profiling off when nothing can read a
// profile: alarmd serves profiles only on http.debug_listen. Sampling an
// allocation (one in every 512 KB by default) walks its stack through the
// binary's function tables, which maps their pages, and records it in a
// bucket table of its own; on the shared ingest harness that is ~1.2 MiB of
// resident memory for profiles no one asks for (docs/alarmd.md, "What holds
// alarmd's memory"). With debug_listen set the default rate stays, so a heap
// profile shows what it always did (allocations since the config was read
// are sampled either way; only those of package initialisation come before).
func profileMemory(debugListen string) {
	if debugListen == "" {
		runtime.MemProfileRate = 0
	}
}
