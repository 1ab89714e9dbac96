package api

import (
	"sync"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// reports keeps computed months of the visit-rate report, so that the web
// app's report page (and a re-download) does not scan a month of visits
// each time: an entry holds while the store's RegisterVersion is the one
// it was computed under — any change to an elder or a visit, from this
// process or another, makes the next read compute the month again. The
// version is read before the month is computed, so an entry never answers
// for a later state than it saw.
var reports = &reportCache{m: map[reportKey]reportEntry{}}

// maxCachedReports bounds the months kept (areas × months); past it the
// cache is emptied (a rare event: a district has a few dozen areas).
const maxCachedReports = 256

type reportKey struct {
	store    any // the store the month was read from
	area     anxin.Area
	from, to int64 // the month's bounds, Unix ms (they carry care.timezone)
}

type reportEntry struct {
	version int64
	rates   care.MonthRates
}

type reportCache struct {
	mu sync.Mutex
	m  map[reportKey]reportEntry
}

func (c *reportCache) get(k reportKey, version int64) (care.MonthRates, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.version != version {
		return care.MonthRates{}, false
	}
	return e.rates, true
}

func (c *reportCache) put(k reportKey, version int64, m care.MonthRates) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= maxCachedReports {
		clear(c.m)
	}
	c.m[k] = reportEntry{version: version, rates: m}
}
