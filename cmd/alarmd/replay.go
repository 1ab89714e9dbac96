package main

import (
	"io"

	"github.com/anxin-care/anxin/replay"
)

// replayMain runs `alarmd replay …`: recorded data through the rules.
func replayMain(args []string, stdout, stderr io.Writer) int {
	return replay.Main(args, stdout, stderr)
}
