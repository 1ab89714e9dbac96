package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/anxin-care/anxin/alarmd"
)

// previewMain prints what the people of a household get for an alarm:
//
//	alarmd preview --rule button --household hh-0001 [-config alarmd.yaml]
func previewMain(args []string, now time.Time, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alarmd preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (YAML): households_file, http.public_url, notify.locale, notify.time_zone")
	rule := fs.String("rule", "button", "the alarm: "+strings.Join(alarmd.PreviewRules(), " | "))
	id := fs.String("household", "", "household id from the households file")
	cfg, code := parseAndLoad(fs, args, path, stderr)
	if cfg == nil {
		return code
	}
	h, err := alarmd.PreviewHousehold(cfg, *id)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := alarmd.Preview(cfg, &h, *rule, now, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	return 0
}
