package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// DecodeOptions are the arguments of `gatewayd decode`.
type DecodeOptions struct {
	Driver     string // plugin name
	In         string // capture file; "": Stdin
	ConfigPath string // optional gatewayd config: the first entry of Driver is used
	Household  string // "": the config's, else "decode"
	Stdin      io.Reader
	Stdout     io.Writer // one contract message per line
	Stderr     io.Writer // one {"error":"…","offset":N} per undecodable frame
	Now        func() time.Time
}

// DecodeHousehold is the household of decoded messages when none is given.
const DecodeHousehold = "decode"

// Decode runs a driver's capture decoder over a file or stdin: decoded
// messages go to Stdout as JSON lines, undecodable frames to Stderr as
// {"error":"…","offset":N}, and decoding goes on. It returns an error for an
// unknown driver, an unreadable input or config, or a read failure.
func Decode(o DecodeOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	p, ok := drivers.Lookup(o.Driver)
	if !ok {
		return fmt.Errorf("unknown driver %q (known: %s)", o.Driver, strings.Join(drivers.Names(), ", "))
	}
	if p.NewDecoder == nil {
		return fmt.Errorf("driver %s cannot decode captures", o.Driver)
	}
	cfg := p.NewConfig()
	household := DecodeHousehold
	if o.ConfigPath != "" {
		c, err := Load(o.ConfigPath)
		if err != nil {
			return err
		}
		household = c.Household
		found := false
		for _, e := range c.Drivers {
			if e.Driver == o.Driver {
				cfg, found = e.Config, true
				break
			}
		}
		if !found {
			return fmt.Errorf("config %s has no %s driver entry", o.ConfigPath, o.Driver)
		}
	}
	if o.Household != "" {
		if !anxin.ValidID(o.Household) {
			return fmt.Errorf("household %q is not [A-Za-z0-9_-]{1,64}", o.Household)
		}
		household = o.Household
	}
	in := o.Stdin
	if o.In != "" {
		f, err := os.Open(o.In)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	if in == nil {
		return errors.New("no input")
	}
	env := drivers.Env{Household: household, Logger: slog.New(slog.DiscardHandler), Now: o.Now,
		Metrics: metrics.NewRegistry()}
	dec, err := p.NewDecoder(cfg, env)
	if err != nil {
		return fmt.Errorf("driver %s: %w", o.Driver, err)
	}
	out := bufio.NewWriter(o.Stdout)
	errOut := json.NewEncoder(o.Stderr)
	var werr error
	emit := func(m anxin.Message) {
		Complete(&m, household, o.Now)
		b, err := json.Marshal(&m)
		if err != nil {
			werr = errors.Join(werr, err)
			return
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	fail := func(e drivers.DecodeError) {
		msg := "undecodable frame"
		if e.Err != nil {
			msg = e.Err.Error()
		}
		// stdout first, so the two streams interleave sensibly on a terminal
		werr = errors.Join(werr, out.Flush())
		werr = errors.Join(werr, errOut.Encode(struct {
			Error  string `json:"error"`
			Offset int64  `json:"offset"`
		}{msg, e.Offset}))
	}
	err = dec.Decode(in, emit, fail)
	werr = errors.Join(werr, out.Flush())
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	return werr
}
