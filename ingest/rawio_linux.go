package ingest

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// The paced readings' socket is read and written here with raw system
// calls (syscall.RawSyscall), not through the runtime's syscall entry. Why:
// every system call a goroutine makes through that entry while Go's monitor
// thread (sysmon) sleeps deeply (all processors idle) wakes it and resets
// its poll interval to 20 µs, and it then polls every 20 µs for as long as
// a processor runs. A paced reader leaves the process idle between reads,
// so each read woke it again: in a live round of the shared harness sysmon
// was 41 % of alarmd's CPU samples (perf, 2026-12-07; docs/alarmd.md
// "Ingest on the shared harness"). The socket is non-blocking: its read and
// write return at once (EAGAIN when they would wait, and the goroutine then
// waits in the netpoller as before), which is the case RawSyscall is for.

// rawRead reads from the non-blocking socket fd once.
func rawRead(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// rawWrite writes to the non-blocking socket fd once.
func rawWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// setsockoptInt sets an int socket option on fd (SO_RCVLOWAT).
func setsockoptInt(fd uintptr, level, opt, v int) {
	iv := int32(v)
	_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&iv)), unsafe.Sizeof(iv), 0)
}

// readRaw reads what the socket holds, waiting in the netpoller (under the
// connection's read deadline) while it holds nothing, as net.Conn's Read
// does: a closed connection is io.EOF.
func readRaw(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var e syscall.Errno
	if err := rc.Read(func(fd uintptr) bool {
		n, e = rawRead(fd, b)
		return e != syscall.EAGAIN
	}); err != nil {
		return 0, err // the deadline passed, or the connection was closed
	}
	if e != 0 {
		return 0, os.NewSyscallError("read", e)
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// rawConnOf is c's raw connection when it is a socket (nil otherwise).
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeRaw writes all of b to the socket, waiting in the netpoller while
// its send buffer is full.
func writeRaw(rc syscall.RawConn, b []byte) error {
	var e syscall.Errno
	if err := rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			var n int
			if n, e = rawWrite(fd, b); e != 0 {
				return e != syscall.EAGAIN
			}
			b = b[n:]
		}
		return true
	}); err != nil {
		return err
	}
	if e != 0 {
		return os.NewSyscallError("write", e)
	}
	return nil
}
