package replay

import (
	"bytes"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// FuzzLoaders: any bytes through both CSV loaders never panic, every
// reading has a contract household id and a finite, non-negative counter,
// and every data line is accounted for (reading, lost precision or
// malformed).
func FuzzLoaders(f *testing.F) {
	f.Add([]byte("user key;datetime;meter reading;diff\nab-12;01/03/2016 00:28:55;68321;10\nab-12;01/03/2016 01:19:43;4e+05;0\n"))
	f.Add([]byte("unix_ts,counter,avg_rate,inst_rate\n1333263600,45287.526,0.0,0.0\n1333263660,NaN,1,2\n"))
	f.Add([]byte("x;;;\n;01/03/2016 00:28:55;1;1\n\xff\xfe;31/02/2016 25:00:00;-5;\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		nop := func() error { return nil }
		d, _ := newDAIAD(bytes.NewReader(data), time.UTC, nop)
		a, _ := newAMPds2(bytes.NewReader(data), nop)
		for _, src := range []Source{d, a} {
			for i := 0; ; i++ {
				r, err := src.Next()
				if err != nil {
					if err != io.EOF && !strings.Contains(err.Error(), "longer than") {
						t.Fatalf("error %v", err)
					}
					break
				}
				if !anxin.ValidID(r.Household) || math.IsNaN(r.Litres) || math.IsInf(r.Litres, 0) || r.Litres < 0 || r.TS.IsZero() {
					t.Fatalf("reading %+v", r)
				}
				if i > len(data) {
					t.Fatal("more readings than bytes")
				}
			}
			st := src.Stats()
			if st.Readings+st.LostPrecision+st.Malformed != st.Lines {
				t.Fatalf("stats do not add up: %+v", st)
			}
		}
	})
}

// FuzzReadInject: any bytes never panic; accepted entries have a household
// and a time.
func FuzzReadInject(f *testing.F) {
	f.Add([]byte("household,stop_at\nh1,2016-03-01T10:00:00Z\n"))
	f.Add([]byte("h1,2016-03-01T10:00:00+02:00\nh2,x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadInject(bytes.NewReader(data))
		if err != nil {
			return
		}
		for hh, ts := range m {
			if hh == "" || len(ts) == 0 {
				t.Fatalf("entry %q %v", hh, ts)
			}
			for _, s := range ts {
				if s.IsZero() && !strings.Contains(string(data), "0001") {
					t.Fatalf("zero time for %q", hh)
				}
			}
		}
	})
}

// BenchmarkReplay: the DAIAD slice (4 households × 4 weeks) through the
// golden rules (12 h, 24 h, learned): household-days per second.
func BenchmarkReplay(b *testing.B) {
	cfg, err := Rules(mustRead(b, dir+"rules.yaml"), DefaultZone("daiad"))
	if err != nil {
		b.Fatal(err)
	}
	days := 0
	for b.Loop() {
		src, err := Open("daiad", dir+"daiad_slice.zip", cfg.Location())
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Run(src, Options{Rules: cfg}, nil)
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		days += sum.HouseholdDays
	}
	b.ReportMetric(float64(days)/b.Elapsed().Seconds(), "household-days/s")
}

func mustRead(b *testing.B, p string) []byte {
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
