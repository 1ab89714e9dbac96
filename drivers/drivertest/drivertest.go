// Package drivertest holds what the tests of drivers of every transport
// (serial, MQTT, TCP) share. It imports no transport, so a serial
// driver's tests do not pull in an MQTT client.
package drivertest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// ErrDiskFull is what RefuseOnce returns: the spool's write failing.
var ErrDiskFull = errors.New("spool: write: no space left on device")

// RefuseOnce is next, except that the first message match accepts is
// refused with ErrDiskFull (the gateway's SD card full for a moment, an
// I/O error), as the spool would. Messages after it, that one again
// included, go to next. A nil match refuses the first message of all.
func RefuseOnce(next drivers.Sink, match func(anxin.Message) bool) drivers.Sink {
	var refused atomic.Bool
	return drivers.SinkFunc(func(ctx context.Context, m anxin.Message) error {
		if (match == nil || match(m)) && refused.CompareAndSwap(false, true) {
			return ErrDiskFull
		}
		return next.Put(ctx, m)
	})
}
