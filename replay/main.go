package replay

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/anxin-care/anxin/rules"
)

// Main runs `alarmd replay` with args (after the subcommand name): one
// JSON line per alarm opened, then {"summary": …}. Exit status 0, 1 when
// the replay failed, 2 for bad arguments.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alarmd replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "dataset format: daiad | ampds2")
	file := fs.String("file", "", "dataset file (DAIAD zip or csv, AMPds2 csv.gz or csv)")
	rulesFile := fs.String("rules", "", "rules.yaml (empty: the built-in rules)")
	injectFile := fs.String("inject", "", "CSV household,stop_at (RFC 3339): injected emergencies")
	window := fs.Duration("window", DefaultWindow, "how long an injected emergency lasts (and must be detected in)")
	from := fs.String("from", "", "first local date replayed (YYYY-MM-DD)")
	to := fs.String("to", "", "last local date replayed (YYYY-MM-DD, inclusive)")
	households := fs.Int("households", 0, "replay only the first N households (0: all)")
	zone := fs.String("tz", "", "the homes' time zone (default: the format's; it replaces the rules' timezone)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: alarmd replay --format daiad|ampds2 --file PATH [--rules FILE] [--inject FILE] [--from DATE --to DATE] [--households N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "replay: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *format != "daiad" && *format != "ampds2" {
		return usage("--format: %q is not one of %s", *format, strings.Join(Formats, ", "))
	}
	if *file == "" {
		return usage("--file: missing")
	}
	if *households < 0 {
		return usage("--households: must not be negative")
	}
	if *window <= 0 {
		return usage("--window: must be positive")
	}
	if *zone == "" {
		*zone = DefaultZone(*format)
	}
	var data []byte
	if *rulesFile != "" {
		b, err := os.ReadFile(*rulesFile)
		if err != nil {
			return usage("--rules: %v", err)
		}
		data = b
	}
	cfg, err := Rules(data, *zone)
	if err != nil {
		return usage("--rules: %v", err)
	}
	loc := cfg.Location()
	o := Options{Rules: cfg, Window: *window, Households: *households}
	if *from != "" {
		t, err := time.ParseInLocation("2006-01-02", *from, loc)
		if err != nil {
			return usage("--from: %q is not YYYY-MM-DD", *from)
		}
		o.From = t
	}
	if *to != "" {
		t, err := time.ParseInLocation("2006-01-02", *to, loc)
		if err != nil {
			return usage("--to: %q is not YYYY-MM-DD", *to)
		}
		o.To = t.AddDate(0, 0, 1)
	}
	if *injectFile != "" {
		f, err := os.Open(*injectFile)
		if err != nil {
			return usage("--inject: %v", err)
		}
		o.Inject, err = ReadInject(f)
		f.Close()
		if err != nil {
			return usage("--inject: %v", err)
		}
	}
	src, err := Open(*format, *file, loc)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	defer src.Close()
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	sum, err := Run(src, o, func(a Alarm) error { return enc.Encode(a) })
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	if err := enc.Encode(struct {
		Summary *Summary `json:"summary"`
	}{sum}); err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	return 0
}

// Rules parses a rules file (nil: the built-in rules) and places it in the
// homes' zone: windows and the clock times in reasons are the data's local
// time.
func Rules(data []byte, zone string) (*rules.Config, error) {
	cfg := rules.Default()
	if data != nil {
		c, err := rules.Parse(data)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if zone == "" || zone == cfg.Timezone {
		return cfg, nil
	}
	cfg.Timezone = zone
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	return rules.Parse(b)
}

// ReadInject reads a CSV of injected emergencies: household,stop_at (RFC
// 3339); a header line "household,stop_at" is allowed.
func ReadInject(r io.Reader) (map[string][]time.Time, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	out := map[string][]time.Time{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if line == 1 && rec[0] == "household" {
			continue
		}
		t, err := time.Parse(time.RFC3339, rec[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: stop_at %q is not RFC 3339", line, clip(rec[1]))
		}
		if rec[0] == "" {
			return nil, fmt.Errorf("line %d: household is empty", line)
		}
		out[rec[0]] = append(out[rec[0]], t)
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
