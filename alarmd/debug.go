package alarmd

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// openDebug serves Go's profiles on listen (http.debug_listen; loopback,
// checked by the config): /debug/pprof/ with heap, allocs, goroutine,
// profile (CPU) and trace. Empty: nothing. The server closes with alarmd.
func (m *Main) openDebug(listen string) error {
	if listen == "" {
		return nil
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("alarmd: http.debug_listen %s: %w", listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Warn("debug listener stopped", "err", err)
		}
	}()
	m.closers = append(m.closers, srv.Close)
	m.Logger.Info("profiles served", "debug_listen", l.Addr().String())
	return nil
}
