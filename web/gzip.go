package web

import (
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
)

// Pages go gzipped to browsers that take it: a due list of 50 elders is
// ~25 KB of HTML and ~4 KB on the wire over slow 4G. The event stream is not
// compressed (it must flush each event).

var gzips = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

type gzipWriter struct {
	http.ResponseWriter
	z *gzip.Writer
}

func (w *gzipWriter) Write(b []byte) (int, error) { return w.z.Write(b) }

func (w *gzipWriter) WriteHeader(code int) {
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}

func compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") || strings.HasSuffix(r.URL.Path, "/events") ||
			strings.HasSuffix(r.URL.Path, ".xlsx") {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		z := gzips.Get().(*gzip.Writer)
		z.Reset(w)
		defer func() {
			_ = z.Close() // the client went away: nothing to do
			gzips.Put(z)
		}()
		next.ServeHTTP(&gzipWriter{ResponseWriter: w, z: z}, r)
	})
}
