package spool

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes (root only; skipped otherwise).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestEventStoredWhenTheDiskFillsBeforeMaxBytes: the disk is smaller than
// spool.max_bytes (64 MiB by default; a small SD card, or an installer
// who raised it "to ride out long outages"). A broker outage fills the disk
// with readings; thinning never starts, because the spool is still under
// max_bytes. Then the elder presses the button: the spool refuses the
// press with ENOSPC while it holds megabytes of readings it would drop
// without a second thought. A press must win over readings.
func TestEventStoredWhenTheDiskFillsBeforeMaxBytes(t *testing.T) {
	dir := smallDisk(t, "2m")
	s := openTest(t, Options{Dir: filepath.Join(dir, "spool"), MaxBytes: 64 << 20, SegmentBytes: 64 << 10})
	ctx := context.Background()
	refused := 0
	for n := range 30000 { // ~5.6 MB of readings on a 2 MiB disk
		if err := s.Put(ctx, testMsg("wm1", n, false)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("reading %d: %v", n, err)
			}
			refused++
		}
	}
	t.Logf("%d readings refused; %d bytes spooled", refused, s.Stats().Bytes)
	if err := s.Put(ctx, testMsg("btn1", 0, true)); err != nil {
		t.Fatalf("press refused with %d bytes of readings in the spool: %v", s.Stats().Bytes, err)
	}
	recs := drain(t, s)
	if m := msgOf(t, recs[len(recs)-1]); m.Device != "btn1" || !m.IsEvent() {
		t.Fatalf("last record %+v, want the press", m)
	}
}
