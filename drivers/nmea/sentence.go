// Package nmea reads trackers and GNSS modules speaking NMEA 0183, BeiDou
// included (talkers GP, BD, GB, GN; GL and GA are read the same way). It
// merges the RMC, GGA and GNS sentences of one fix epoch into one `tracker`
// reading and never emits a reading without a valid fix.
package nmea

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxLine caps one sentence: NMEA allows 82 bytes, proprietary sentences a
// little more; anything longer is noise and is dropped, so a stream without
// newlines cannot grow memory.
const maxLine = 256

var (
	errNotNMEA     = errors.New("not an NMEA sentence")
	errNoChecksum  = errors.New("missing checksum")
	errBadChecksum = errors.New("bad checksum")
	errTooLong     = fmt.Errorf("line longer than %d bytes", maxLine)
)

// sentence is one checksum-verified sentence: talker "GN", type "RMC",
// fields after the address.
type sentence struct {
	talker string
	typ    string
	fields []string
}

// proprietary reports a $P… sentence (vendor extensions: $PQGSA, $PSRF…).
func (s *sentence) proprietary() bool { return strings.HasPrefix(s.talker, "P") }

// parseSentence checks the framing and checksum of one line. The checksum is
// the XOR of the bytes between '$' and '*'. Junk before the last '$' (a
// partial line after a reconnect) is ignored.
func parseSentence(line string) (sentence, error) {
	line = strings.TrimRight(line, "\r\n ")
	i := strings.LastIndexByte(line, '$')
	if i < 0 {
		return sentence{}, errNotNMEA
	}
	line = line[i+1:]
	star := strings.LastIndexByte(line, '*')
	if star < 0 {
		return sentence{}, errNoChecksum
	}
	body, sum := line[:star], line[star+1:]
	if len(sum) != 2 {
		return sentence{}, errNoChecksum
	}
	want, err := strconv.ParseUint(sum, 16, 8)
	if err != nil {
		return sentence{}, errNoChecksum
	}
	if checksum(body) != byte(want) {
		return sentence{}, fmt.Errorf("%w: %s*%s, computed %02X", errBadChecksum, clip(body, 8), sum, checksum(body))
	}
	addr, rest, _ := strings.Cut(body, ",")
	if len(addr) < 3 || !printable(addr) {
		return sentence{}, errNotNMEA
	}
	s := sentence{fields: strings.Split(rest, ",")}
	if addr[0] == 'P' {
		s.talker, s.typ = "P", addr[1:]
	} else {
		s.talker, s.typ = addr[:2], addr[2:]
	}
	return s, nil
}

func checksum(body string) byte {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return c
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strconv.Quote(s)
}

// field returns fields[i] or "" when the sentence is shorter.
func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// parseCoord reads ddmm.mmmm (lat) or dddmm.mmmm (lon) with its hemisphere
// into signed decimal degrees. Degrees and minutes are split in the string,
// not by float arithmetic, so no rounding creeps into the degrees.
func parseCoord(v, hemi string, maxDeg float64) (float64, error) {
	dot := strings.IndexByte(v, '.')
	if dot < 0 {
		dot = len(v)
	}
	if dot < 3 {
		return 0, fmt.Errorf("coordinate %q is not (d)ddmm.mmmm", v)
	}
	deg, err := strconv.ParseUint(v[:dot-2], 10, 16)
	if err != nil {
		return 0, fmt.Errorf("coordinate %q: bad degrees", v)
	}
	minutes, err := strconv.ParseFloat(v[dot-2:], 64)
	if err != nil || minutes < 0 || minutes >= 60 || v[dot-2] == '-' || v[dot-2] == '+' {
		return 0, fmt.Errorf("coordinate %q: bad minutes", v)
	}
	d := float64(deg) + minutes/60
	if d > maxDeg {
		return 0, fmt.Errorf("coordinate %q out of range", v)
	}
	switch hemi {
	case "N", "E":
	case "S", "W":
		d = -d
	default:
		return 0, fmt.Errorf("hemisphere %q is not N, S, E or W", hemi)
	}
	return d, nil
}

// parseTOD checks an hhmmss(.sss) time of day and returns it unchanged: the
// epoch key.
func parseTOD(v string) (string, error) {
	if len(v) < 6 {
		return "", fmt.Errorf("time %q is not hhmmss.ss", v)
	}
	for i := 0; i < 6; i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", fmt.Errorf("time %q is not hhmmss.ss", v)
		}
	}
	if v[0:2] > "23" || v[2:4] > "59" || v[4:6] > "60" {
		return "", fmt.Errorf("time %q out of range", v)
	}
	if len(v) > 6 {
		if v[6] != '.' || len(v) > 10 {
			return "", fmt.Errorf("time %q is not hhmmss.ss", v)
		}
		if _, err := strconv.ParseUint(v[7:], 10, 16); err != nil && len(v) > 7 {
			return "", fmt.Errorf("time %q is not hhmmss.ss", v)
		}
	}
	return v, nil
}
