//go:build !linux

package ingest

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf: elsewhere than Linux the socket is written through net.Conn
// (rawio_linux.go says why Linux writes it raw).
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func writeRaw(syscall.RawConn, []byte) error { return errors.ErrUnsupported }
