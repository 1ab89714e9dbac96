package main

import (
	"runtime"
	"testing"
)

func TestProfileMemoryOnlyWithDebugListener(t *testing.T) {
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 512 << 10
	profileMemory("127.0.0.1:6060")
	if runtime.MemProfileRate != 512<<10 {
		t.Fatalf("with http.debug_listen the rate is %d, want the default kept", runtime.MemProfileRate)
	}
	profileMemory("")
	if runtime.MemProfileRate != 0 {
		t.Fatalf("without http.debug_listen the rate is %d, want 0 (no profile can be read)", runtime.MemProfileRate)
	}
}
