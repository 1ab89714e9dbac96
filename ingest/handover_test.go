package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
)

// BenchmarkReaderToPipeline: readings from a socket to their PUBACKs, as
// alarmd takes them from mosquitto, without the broker: the direct client's
// reader (paced by SO_RCVLOWAT as in alarmd) parses each PUBLISH and hands
// it to a running pipeline (parse, de-dup, rules, SQLite when a batch has
// something to commit), whose acknowledgements go back on the socket. The
// other end writes the PUBLISHes in runs of 32 and keeps at most inflight
// unacknowledged, as a broker's window does. CPU per reading counts the
// whole process (that writer and the PUBACK reader included, the same on
// both sides of a comparison).
func BenchmarkReaderToPipeline(b *testing.B) {
	for _, inflight := range []int{200, 2000} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchReaderToPipeline(b, inflight) })
	}
}

func benchReaderToPipeline(b *testing.B, inflight int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	broker, ok := <-accepted
	if !ok {
		b.Fatal("no connection")
	}
	defer broker.Close()

	p, err := New(Config{}, Deps{Engine: rules.New(rules.Default()), Store: openDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	src, ok := lowatSource(client, time.Millisecond)
	if !ok {
		src = &pacedReader{r: client, pace: time.Millisecond}
	}
	if r, ok := src.(interface{ release() }); ok {
		r.release()
	}
	c := &directConn{Conn: client, w: &bufferedConn{Conn: client}}
	dc := newDirectClient(SubscriberConfig{}, p, nil, time.Minute, time.Second)
	dc.conn = c
	p.FlushAcksWith(dc.flushAcks)
	readDone := make(chan error, 1)
	go func() { readDone <- dc.read(ctx, c, newPacketReader(src)) }()
	defer func() { c.kill(); <-readDone }()

	// the PUBLISHes: 1,000 households' meters, a reading each in turn
	t0 := time.Now()
	pkts := make([][]byte, b.N)
	for i := range pkts {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		m := anxin.Message{ID: anxin.NewID(at), TS: at, Household: fmt.Sprintf("hh-%04d", i%1000), Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1000 + float64(i/1000)*0.001), "battery_low": anxin.Bool(false)}}
		body, err := json.Marshal(&m)
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = publishPacket(m.Topic(), uint16(i%65535+1), body)
	}
	acked := make(chan int, 1024) // PUBACKs read, in runs
	go func() {
		var h [4]byte
		n := 0
		for {
			if _, err := io.ReadFull(broker, h[:]); err != nil {
				close(acked)
				return
			}
			if h[0]>>4 != pktPuback || binary.BigEndian.Uint16(h[2:]) == 0 {
				panic(fmt.Sprintf("unexpected packet % x", h))
			}
			if n++; n%32 == 0 || n == len(pkts) {
				acked <- n
			}
		}
	}()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	written, ackedN := 0, 0
	var run []byte
	for ackedN < len(pkts) {
		for written < len(pkts) && written-ackedN < inflight {
			run = run[:0]
			for k := 0; k < 32 && written < len(pkts); k++ {
				run = append(run, pkts[written]...)
				written++
			}
			if _, err := broker.Write(run); err != nil {
				b.Fatal(err)
			}
		}
		n, ok := <-acked
		if !ok {
			b.Fatalf("connection closed after %d of %d acknowledgements", ackedN, len(pkts))
		}
		ackedN = n
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/reading")
}
