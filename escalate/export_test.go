package escalate

// PhoneTag lets tests build the HMAC links sent before short tokens.
var PhoneTag = phoneTag

// Kill stops the service as SIGKILL would: no pass runs any more, nothing
// more is sent or written, and the leases it holds are not released (they
// run out). Work under way fails on the canceled context.
func (s *Service) Kill() { s.halt(true) }

// SendTimers counts the delivery waits held in memory, over all chains.
func (s *Service) SendTimers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ts := range s.sendTimers {
		n += len(ts)
	}
	return n
}

// BeforeCancel sets a hook run between recording a call's end and asking
// the provider to end it; an error stops the pass there, as a crash would.
func (s *Service) BeforeCancel(f func(attemptID string) error) { s.beforeCancel.Store(&f) }
