package spool

import (
	"strings"
	"testing"
)

// One process per spool directory: a second Open of a directory in use is
// refused (flock on unix, LockFileEx on Windows), and the directory opens
// again once the first spool is closed.
func TestSpoolDirectoryIsLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(Options{Dir: dir}); err == nil {
		s2.Close()
		t.Fatal("a second spool opened the same directory")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	s3.Close()
}
