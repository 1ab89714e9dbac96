//go:build !linux

package ingest

import (
	"io"
	"net"
	"time"
)

// lowatSource: elsewhere than Linux the receive low-water mark does not
// hold back the socket's wake-ups; the client falls back to pacedReader.
func lowatSource(net.Conn, time.Duration) (io.Reader, bool) { return nil, false }
