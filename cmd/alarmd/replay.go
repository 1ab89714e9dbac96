package main

import (
	"fmt"
	"io"
)

// replayMain runs `alarmd replay`. The replay package is not in the tree
// yet; when it is, this becomes `return replay.Main(args, stdout, stderr)`.
func replayMain(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "replay: not built yet")
	return 2
}
