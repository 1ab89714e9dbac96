package nmea

// lineSplitter cuts a byte stream into lines of at most max bytes (without
// the newline). A longer line is reported once as too long and dropped up to
// its newline, so memory stays bounded whatever the peer sends.
type lineSplitter struct {
	max        int
	buf        []byte
	start      int64 // stream offset of buf[0] (or of the dropped line)
	pos        int64 // stream offset of the next byte fed
	discarding bool
}

func newLineSplitter(max int) *lineSplitter {
	return &lineSplitter{max: max, buf: make([]byte, 0, max)}
}

// feed consumes p, calling line for each complete line with its stream
// offset, and tooLong for each dropped line. line must not keep b.
func (s *lineSplitter) feed(p []byte, line func(b []byte, off int64), tooLong func(off int64)) {
	for _, c := range p {
		s.pos++
		if c == '\n' {
			if s.discarding {
				s.discarding = false
			} else {
				line(s.buf, s.start)
			}
			s.buf = s.buf[:0]
			s.start = s.pos
			continue
		}
		if s.discarding {
			continue
		}
		if len(s.buf) >= s.max {
			tooLong(s.start)
			s.discarding = true
			s.buf = s.buf[:0]
			continue
		}
		s.buf = append(s.buf, c)
	}
}

// end delivers a last line without newline (end of a capture).
func (s *lineSplitter) end(line func(b []byte, off int64)) {
	if !s.discarding && len(s.buf) > 0 {
		line(s.buf, s.start)
	}
	s.buf, s.discarding, s.start = s.buf[:0], false, s.pos
}
