package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/anxin-care/anxin"
)

// Audit actions: what an entry of the audit log says was done.
const (
	auditElderCreate   = "elder.create"
	auditElderUpdate   = "elder.update"
	auditElderImport   = "elder.import"
	auditElderRead     = "elder.read"     // one full record
	auditEldersList    = "elders.list"    // ?unmasked=1
	auditEldersExport  = "elders.export"  // without mask=1
	auditDueList       = "due.list"       // due, overdue, follow-ups with ?unmasked=1
	auditReportRead    = "report.overdue" // the report's overdue list with ?unmasked=1
	auditVisitCreate   = "visit.create"
	auditHouseholdRead = "household.read" // full phone numbers
	auditHouseholdAway = "household.away"
	auditAlarmClose    = "alarm.close"
)

// unmasked reports whether the caller asks for names and phone numbers in
// full (?unmasked=1): an audited read.
func unmasked(r *http.Request) bool { return r.URL.Query().Get("unmasked") == "1" }

// audit records that the caller did action to each record. A read of
// unmasked data is audited before the data is sent, and an error refuses
// the read; a change is audited after it is committed, and an error is
// logged (the change stands: answering 500 would invite a retry).
func (s *Server) audit(ctx context.Context, action, detail string, records ...string) error {
	who, at := caller(ctx).Name, s.Now()
	entries := make([]anxin.AuditEntry, len(records))
	for i, rec := range records {
		entries[i] = anxin.AuditEntry{At: at, Who: who, Action: action, Record: rec, Detail: detail}
	}
	return s.Store.Audit(ctx, entries...)
}

// auditChange audits a committed change; see audit.
func (s *Server) auditChange(ctx context.Context, action, detail string, records ...string) {
	if err := s.audit(ctx, action, detail, records...); err != nil {
		s.Logger.Error("audit entry lost", "action", action, "records", len(records), "token", caller(ctx).Name, "err", err)
	}
}

// listAudit: GET audit?who=&action=&record=&since=&until=&limit=&offset=,
// newest first; district tokens only (the administrators of the register).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if !scope(r.Context()).All() {
		return anxin.Errorf(anxin.EFORBID, "只有区民政办（全区账号）可以查看操作记录")
	}
	q := r.URL.Query()
	f := anxin.AuditFilter{Who: q.Get("who"), Action: q.Get("action"), Record: q.Get("record")}
	var err error
	if f.Since, f.Until, f.Limit, f.Offset, err = s.pageParams(r); err != nil {
		return err
	}
	es, err := s.Store.AuditLog(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es, "limit": f.Limit, "offset": f.Offset})
	return nil
}

// logPath is a request's path as logged: the route with each path value
// masked (an elder's record id may be a resident ID number); an unknown
// path is logged as the prefix alone.
func logPath(r *http.Request) string {
	_, pattern, ok := strings.Cut(r.Pattern, " ")
	if !ok || pattern == Prefix {
		return Prefix + "…"
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		j := strings.IndexByte(pattern, '}')
		if i < 0 || j < i {
			b.WriteString(pattern)
			return b.String()
		}
		b.WriteString(pattern[:i])
		b.WriteString(anxin.MaskIDNumber(r.PathValue(strings.TrimSuffix(pattern[i+1:j], "..."))))
		pattern = pattern[j+1:]
	}
}
