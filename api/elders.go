package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger"
)

// tierFormat refuses a tier that is not one of anxin.Tier.Valid's.
const tierFormat = "tier 须为 irregular（不定期）、general（一般）、key（重点）、high（高风险）或 unassessed（未评估）"

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, anxin.Errorf(anxin.EINVALID, "%s 须为 %d 到 %d 之间的整数", name, lo, hi)
	}
	return n, nil
}

// elderFilter reads the list filters and confines them to the caller's area.
func elderFilter(r *http.Request) (anxin.ElderFilter, error) {
	q := r.URL.Query()
	f := anxin.ElderFilter{Area: scope(r.Context()), Village: q.Get("village"),
		Tier: anxin.Tier(q.Get("tier")), GridWorker: q.Get("grid_worker"), Household: q.Get("household")}
	if f.Area.All() {
		var err error
		if f.Area, err = areaParam(r); err != nil {
			return f, err
		}
	}
	if f.Tier != "" && !f.Tier.Valid() {
		return f, anxin.Errorf(anxin.EINVALID, tierFormat)
	}
	var err error
	if f.Limit, err = intParam(r, "limit", 100, 1, 10000); err != nil {
		return f, err
	}
	if f.Offset, err = intParam(r, "offset", 0, 0, 1<<30); err != nil {
		return f, err
	}
	return f, nil
}

// areaParam reads ?area= (a district token's narrowing).
func areaParam(r *http.Request) (anxin.Area, error) {
	a, err := anxin.ParseArea(r.URL.Query().Get("area"))
	if err != nil {
		return a, anxin.Errorf(anxin.EINVALID, "area 须为 村(社区)、乡镇(街道)/村(社区) 或 乡镇(街道)/*，如 屏山街道/善广村")
	}
	return a, nil
}

// noElder is the answer for an elder the caller may not see or that does not exist.
func noElder(id string) error {
	return anxin.Errorf(anxin.ENOTFOUND, "没有档案编号为「%s」的老年人（或不在您的辖区）", clip(id))
}

func (s *Server) listElders(w http.ResponseWriter, r *http.Request) error {
	f, err := elderFilter(r)
	if err != nil {
		return err
	}
	es, err := s.Store.Elders(r.Context(), f)
	if err != nil {
		return err
	}
	total, err := s.Store.CountElders(r.Context(), f)
	if err != nil {
		return err
	}
	if unmasked(r) {
		if err := s.audit(r.Context(), auditEldersList, "", elderIDs(es)...); err != nil {
			return err
		}
		for i := range es {
			es[i].IDNumber = anxin.MaskIDNumber(es[i].IDNumber) // the full number: GET elders/{id}
		}
	} else {
		for i := range es {
			es[i] = care.Masked(es[i])
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"elders": es, "total": total, "limit": f.Limit, "offset": f.Offset})
	return nil
}

// elder reads one elder the caller may see; one outside the caller's area
// is "not found", so a community cannot learn who is registered elsewhere.
func (s *Server) elder(ctx context.Context, id string) (anxin.ElderRecord, error) {
	e, err := s.Store.Elder(ctx, id)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return e, noElder(id)
	} else if err != nil {
		return e, err
	}
	if !care.Area(scope(ctx), &e) {
		return anxin.ElderRecord{}, noElder(id)
	}
	return e, nil
}

func elderIDs(es []anxin.ElderRecord) []string {
	ids := make([]string, len(es))
	for i := range es {
		ids[i] = es[i].ID
	}
	return ids
}

func (s *Server) getElder(w http.ResponseWriter, r *http.Request) error {
	e, err := s.elder(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), auditElderRead, "", e.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// elderBody is an elder record as a request carries it: consent must be
// given, true or false, so that no elder drops silently out of the due
// lists and the visit rate (false) nor is visited without agreement (true).
type elderBody struct {
	anxin.ElderRecord
	Consent *bool `json:"consent"`
}

// consentRequired is the field error of a body without "consent".
var consentRequired = care.FieldError{Field: "consent",
	Message: consentZh, Zh: consentZh}

const consentZh = "必填：老年人已签知情同意、愿意接受探访填 true，拒绝填 false"

// decodeElder reads an elder record; missing lists the required fields the body lacks.
func decodeElder(w http.ResponseWriter, r *http.Request) (e anxin.ElderRecord, missing []care.FieldError, err error) {
	var b elderBody
	if err := decodeJSON(w, r, &b); err != nil {
		return e, nil, err
	}
	e = b.ElderRecord
	if b.Consent == nil {
		missing = append(missing, consentRequired)
	} else {
		e.Consent = *b.Consent
	}
	return e, missing, nil
}

func (s *Server) createElder(w http.ResponseWriter, r *http.Request) error {
	e, missing, err := decodeElder(w, r)
	if err != nil {
		return err
	}
	if e.ID == "" {
		e.ID = "e-" + strings.ToLower(anxin.NewID(s.Now()))
	}
	if _, err := s.Store.Elder(r.Context(), e.ID); err == nil {
		return anxin.Errorf(anxin.ECONFLICT, "档案编号「%s」已经登记过了：要修改这条记录，请用 PUT（更新）", clip(e.ID))
	} else if anxin.ErrorCode(err) != anxin.ENOTFOUND {
		return err
	}
	if err := s.save(r.Context(), &e, missing); err != nil {
		return err
	}
	s.auditChange(r.Context(), auditElderCreate, "", e.ID)
	w.Header().Set("Location", Prefix+"elders/"+e.ID)
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) putElder(w http.ResponseWriter, r *http.Request) error {
	e, missing, err := decodeElder(w, r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if e.ID != "" && e.ID != id {
		return idMismatch(e.ID)
	}
	e.ID = id
	// the stored record, whatever its area: a record outside the caller's
	// area is "not found" and must not be overwritten as if it were new
	old, err := s.Store.Elder(r.Context(), id)
	switch {
	case err == nil && !care.Area(scope(r.Context()), &old):
		return noElder(id)
	case err == nil:
		e.CreatedAt = old.CreatedAt
	case anxin.ErrorCode(err) != anxin.ENOTFOUND:
		return err
	}
	if err := s.save(r.Context(), &e, missing); err != nil {
		return err
	}
	s.auditChange(r.Context(), auditElderUpdate, "", e.ID)
	writeJSON(w, http.StatusOK, e)
	return nil
}

// save normalizes, checks the area and stores one record; missing are
// field errors found while decoding it, reported with the others.
func (s *Server) save(ctx context.Context, e *anxin.ElderRecord, missing []care.FieldError) error {
	now := s.Now()
	if errs := append(missing, care.Normalize(e, s.Plan.Day(now))...); len(errs) > 0 {
		return &fieldsError{msg: fmt.Sprintf("记录中有 %d 处问题，没有保存", len(errs)), fields: errs}
	}
	if area := scope(ctx); !care.Area(area, e) {
		return anxin.Errorf(anxin.EFORBID, "老年人的现住址须在您的辖区（%s）内", area)
	}
	if bad, err := s.foreignHouseholds(ctx, []string{e.Household}); err != nil {
		return err
	} else if why, ok := bad[e.Household]; ok {
		return anxin.Errorf(anxin.EFORBID, "户编号「%s」：%s", clip(e.Household), why)
	}
	e.UpdatedAt = now
	err := s.Store.PutElder(ctx, e)
	var ce *anxin.ConflictError
	if errors.As(err, &ce) {
		return anxin.Errorf(anxin.ECONFLICT, "%s", s.conflictMessage(ctx, ce.Conflicts[0]))
	}
	if err != nil {
		return err
	}
	stored, err := s.Store.Elder(ctx, e.ID)
	if err != nil {
		return err
	}
	*e = stored
	s.Logger.Info("elder saved", "elder", anxin.MaskRecordID(e.ID), "name", anxin.MaskName(e.Name), "id_number", anxin.MaskIDNumber(e.IDNumber),
		"tier", e.Tier, "token", caller(ctx).Name)
	return nil
}

// foreignHouseholds says, for each household an area token may not attach
// an elder to, why: one with an elder registered outside the area belongs to
// another community; an alarmd household (a sensor kit) not yet in the
// register is assigned by the district. Nil for a district token.
func (s *Server) foreignHouseholds(ctx context.Context, households []string) (map[string]string, error) {
	area := scope(ctx)
	if area.All() {
		return nil, nil
	}
	places, err := s.Store.HouseholdPlaces(ctx, area, households)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var unplaced []string // no elder anywhere: a kit's, if alarmd has it
	for _, h := range households {
		switch p := places[h]; {
		case p.Outside > 0:
			out[h] = "该户属于其他辖区"
		case p.Inside == 0:
			unplaced = append(unplaced, h)
		}
	}
	if len(unplaced) > 0 && s.Households != nil {
		kits, err := s.Households.HouseholdsOf(ctx, unplaced) // one read for an import's rows, not one a row
		if err != nil {
			return nil, err
		}
		for _, k := range kits {
			out[k.ID] = "该户是尚未登记的传感器套件户，由区民政办分配"
		}
	}
	return out, nil
}

// conflictMessage tells, in Mandarin, why an ID number cannot be stored
// without naming an elder the caller may not see: a community learns only
// that the number is registered elsewhere, not to whom.
func (s *Server) conflictMessage(ctx context.Context, c anxin.Conflict) string {
	if c.Holder == "" {
		// a clash within one import: the store names the other row's record
		if c.InFile != "" {
			return fmt.Sprintf("本次导入中档案编号「%s」的身份证号码与这一行相同", c.InFile)
		}
		return "本次导入中另有一行的身份证号码与这一行相同"
	}
	if !scope(ctx).All() {
		if _, err := s.elder(ctx, c.Holder); err != nil {
			return "该身份证号码已登记在您辖区以外的一位老年人名下（请联系区民政办）"
		}
	}
	return fmt.Sprintf("该身份证号码已登记在档案编号「%s」的老年人名下", clip(c.Holder))
}

// ledgerFormat is the format of an import body or export: ?format= or the
// Content-Type / the path's extension.
func ledgerFormat(r *http.Request) (string, error) {
	f := r.URL.Query().Get("format")
	if f == "" && r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch ct {
		case "text/csv":
			f = "csv"
		case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream", "":
			f = "xlsx"
		}
	}
	if f == "" {
		f = "xlsx"
	}
	if f != "xlsx" && f != "csv" {
		return "", anxin.Errorf(anxin.EINVALID, "format 须为 xlsx 或 csv")
	}
	return f, nil
}

// importElders reads a whole ledger and stores all of it or nothing. Every
// bad cell is reported (row, column, why, in Chinese). Rows outside the
// caller's area are bad rows. A row updates the elder registered under its
// 档案编号 or ID number: only the columns the file has are overwritten.
// Columns no field maps are kept as extra attributes and listed in
// unmapped_columns. ?dry_run=1 checks and says what would be created,
// changed and left unchanged, without storing.
func (s *Server) importElders(w http.ResponseWriter, r *http.Request) error {
	format, err := ledgerFormat(r)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, ledger.MaxFileBytes)
	var rows [][]string
	if format == "csv" {
		rows, err = ledger.ReadCSVRows(body)
	} else {
		rows, err = ledger.ReadXLSXRows(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return anxin.Errorf(ledger.ETOOLARGE, "文件太大：不能超过 %d MB，请分成几个文件导入", ledger.MaxFileBytes>>20)
		}
		return err
	}
	ctx := r.Context()
	now := s.Now()
	// every row's elder is looked up at once (Prefetch), then answered from memory
	var byNumber map[string]string
	var existing map[string]anxin.ElderRecord
	var lookupErr error
	opt := ledger.Options{Location: s.Plan.Location,
		Prefetch: func(ids, idNumbers []string) error {
			if byNumber, lookupErr = s.Store.ElderIDsByIDNumber(ctx, idNumbers); lookupErr != nil {
				return lookupErr
			}
			for _, id := range byNumber {
				ids = append(ids, id)
			}
			existing, lookupErr = s.Store.EldersByID(ctx, ids)
			return lookupErr
		},
		NewID: func(idNumber string) string {
			// a row without 档案编号 updates the elder already registered under its ID number
			if id, ok := byNumber[idNumber]; ok {
				return id
			}
			return "e-" + strings.ToLower(anxin.NewID(now))
		},
		Existing: func(id string) (anxin.ElderRecord, bool) {
			e, ok := existing[id]
			return e, ok
		}}
	imp, rowErrs := ledger.Parse(rows, s.Plan.Day(now), opt)
	if lookupErr != nil {
		return lookupErr
	}
	bad := make([]rowError, 0, len(rowErrs))
	for _, e := range rowErrs {
		bad = append(bad, rowError(e))
	}
	area := scope(ctx)
	households := make([]string, len(imp.Elders))
	for i := range imp.Elders {
		households[i] = imp.Elders[i].Household
	}
	foreign, err := s.foreignHouseholds(ctx, households)
	if err != nil {
		return err
	}
	for i := range imp.Elders {
		e := &imp.Elders[i]
		if !care.Area(area, e) {
			bad = append(bad, rowError{imp.Rows[i], "村(社区)", "不在您的辖区 " + area.String() + " 内"})
			continue
		}
		if why, ok := foreign[e.Household]; ok {
			bad = append(bad, rowError{imp.Rows[i], "户编号", why})
		}
		// every row's id was prefetched (a new id is in no store), so the
		// records it would replace are in existing
		if old, ok := existing[e.ID]; ok && !area.Contains(old.Current.Township, old.Current.Village) {
			bad = append(bad, rowError{imp.Rows[i], "档案编号", "属于您辖区以外的老年人"})
		}
	}
	if len(bad) > 0 {
		return &rowsError{code: anxin.EINVALID, msg: fmt.Sprintf("没有导入任何记录：文件中有 %d 处问题", len(bad)), rows: bad}
	}
	// only the records the file creates or changes are written
	var write []anxin.ElderRecord
	var writeRows []int
	counts := map[string]int{}
	var changes []ledger.Change
	for i, c := range imp.Changes {
		counts[c.Action]++
		if c.Action == ledger.Unchanged {
			continue
		}
		changes = append(changes, c)
		e := imp.Elders[i]
		e.UpdatedAt = now
		write = append(write, e)
		writeRows = append(writeRows, imp.Rows[i])
	}
	unmapped := imp.Unmapped
	if unmapped == nil {
		unmapped = []string{}
	}
	if changes == nil {
		changes = []ledger.Change{}
	}
	result := map[string]any{"checked": len(imp.Elders), "imported": 0, "created": counts[ledger.Created],
		"changed": counts[ledger.Changed], "unchanged": counts[ledger.Unchanged], "unmapped_columns": unmapped}
	if r.URL.Query().Get("dry_run") == "1" {
		result["dry_run"] = true
		result["changes"] = changes
		writeJSON(w, http.StatusOK, result)
		return nil
	}
	err = s.Store.ImportElders(ctx, write, now)
	var ce *anxin.ConflictError
	if errors.As(err, &ce) {
		for _, c := range ce.Conflicts {
			bad = append(bad, rowError{writeRows[c.Index], "身份证号", s.conflictMessage(ctx, c)})
		}
		return &rowsError{code: anxin.ECONFLICT, msg: fmt.Sprintf("没有导入任何记录：%d 处与登记册冲突", len(bad)), rows: bad}
	}
	if err != nil {
		return err
	}
	s.auditChange(ctx, auditElderImport, format, elderIDs(write)...)
	s.Logger.Info("ledger imported", "elders", len(write), "unchanged", counts[ledger.Unchanged], "unmapped", len(unmapped),
		"format", format, "token", caller(ctx).Name)
	result["imported"] = len(write)
	writeJSON(w, http.StatusOK, result)
	return nil
}

// exportElders writes the caller's register as the ledger. ?mask=1 masks
// names, phone and ID numbers (such a file cannot be imported back); an
// export in full is audited.
func (s *Server) exportElders(w http.ResponseWriter, r *http.Request) error {
	format, err := ledgerFormat(r)
	if err != nil {
		return err
	}
	f, err := elderFilter(r)
	if err != nil {
		return err
	}
	f.Limit, f.Offset = -1, 0
	es, err := s.Store.Elders(r.Context(), f)
	if err != nil {
		return err
	}
	opt := ledger.Options{Mask: r.URL.Query().Get("mask") == "1", Location: s.Plan.Location}
	if !opt.Mask {
		if err := s.audit(r.Context(), auditEldersExport, format, elderIDs(es)...); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	name := "ledger-" + s.Now().In(s.Plan.Location).Format("20060102")
	q := r.URL.Query()
	switch layout := q.Get("layout"); {
	case layout == "form3" && format == "xlsx":
		// the programme's 附件3 台账: title rows, twelve columns, 已完成探访次数 from the visits
		visits, err := s.Store.VisitsDone(r.Context(), elderIDs(es))
		if err != nil {
			return err
		}
		township := q.Get("township")
		if township == "" {
			township = f.Area.Township
		}
		meta := ledger.Form3Meta{Township: township, Filler: q.Get("filler"), Phone: q.Get("phone"),
			Date: s.Plan.Day(s.Now())}
		err = ledger.WriteForm3XLSX(&buf, es, visits, meta, opt)
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		name = "form3-" + s.Now().In(s.Plan.Location).Format("20060102")
		if err != nil {
			return err
		}
		format = "xlsx"
	case layout != "" && layout != "register":
		return anxin.Errorf(anxin.EINVALID, "layout 须为 register（登记册）或 form3（附件3，仅限 xlsx）")
	case format == "csv":
		if err := ledger.WriteCSV(&buf, ledger.Rows(es, opt)); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	default:
		if err := ledger.WriteXLSX(&buf, ledger.LedgerSheet(es, opt)); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(buf.Bytes())
	if err == nil {
		s.Logger.Info("ledger exported", "elders", len(es), "format", format, "masked", opt.Mask, "token", caller(r.Context()).Name)
	}
	return nil // headers are sent: a write error means the client went away
}
