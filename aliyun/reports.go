package aliyun

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alibabacloud-go/tea/dara"

	"github.com/anxin-care/anxin"
)

// Report limits: Aliyun pushes batches of at most a few hundred reports.
const (
	maxReportBody = 1 << 20
	maxReports    = 1000
	maxField      = 256
)

// SMSReport is one item of an SmsReport push.
type SMSReport struct {
	Phone   string `json:"phone_number"`
	Success bool   `json:"success"`
	ErrCode string `json:"err_code"`
	BizID   string `json:"biz_id"`
	OutID   string `json:"out_id"`
}

// VoiceReport is one item of a VoiceReport or VoiceCallReport push.
type VoiceReport struct {
	CallID     string `json:"call_id"`
	StatusCode string `json:"status_code"`
	OutID      string `json:"out_id"`
	DTMF       string `json:"dtmf"`
}

// ParseSMSReports reads an SmsReport body: a JSON array, bounded in size,
// every id a short printable string.
func ParseSMSReports(body []byte) ([]SMSReport, error) {
	return parseReports(body, "sms", func(r SMSReport) []string { return []string{r.OutID, r.BizID, r.ErrCode, r.Phone} })
}

// ParseVoiceReports reads a VoiceReport or VoiceCallReport body.
func ParseVoiceReports(body []byte) ([]VoiceReport, error) {
	return parseReports(body, "voice", func(r VoiceReport) []string { return []string{r.OutID, r.CallID, r.StatusCode, r.DTMF} })
}

func parseReports[T any](body []byte, kind string, fieldsOf func(T) []string) ([]T, error) {
	var rs []T
	if err := parseArray(body, &rs); err != nil {
		return nil, err
	}
	for i, r := range rs {
		if err := fields(fieldsOf(r)...); err != nil {
			return nil, fmt.Errorf("aliyun: %s report %d: %w", kind, i, err)
		}
	}
	return rs, nil
}

func parseArray[T any](body []byte, out *[]T) error {
	if len(body) > maxReportBody {
		return errors.New("aliyun: report body too large")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return errors.New("aliyun: a report body is a JSON array")
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("aliyun: report body: %w", err)
	}
	if len(*out) > maxReports {
		return fmt.Errorf("aliyun: %d reports in one push, at most %d", len(*out), maxReports)
	}
	return nil
}

func fields(ss ...string) error {
	for _, s := range ss {
		if len(s) > maxField {
			return errors.New("a field is too long")
		}
		if strings.ContainsAny(s, "\x00\r\n") {
			return errors.New("a field has control characters")
		}
	}
	return nil
}

// voiceStatus maps Aliyun's call status code to the statuses escalate knows.
// 200000 is a call the person answered and heard; the others did not reach
// a person.
func voiceStatus(code string) (status, answeredBy string) {
	switch code {
	case "":
		return "", ""
	case "200000":
		return "completed", "human"
	case "200002":
		return "busy", ""
	case "200001", "200005", "200007", "200010":
		return "no-answer", ""
	}
	return "failed", ""
}

// Webhooks receives Aliyun's pushed reports on /aliyun/<secret>/…. Aliyun
// does not sign them: the secret in the path keeps strangers out, repeats
// are dropped, and a key press accepts only after QueryCallDetailByCallId
// confirms the call (Confirm).
type Webhooks struct {
	secret  string
	reports anxin.DeliveryReports
	confirm func(ctx context.Context, r VoiceReport) error
	log     *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
	fifo []string
}

// maxSeen bounds the memory of handled reports.
const maxSeen = 100_000

// NewWebhooks builds the handlers. confirm checks a key press with Aliyun
// (Notifier.Confirm); nil refuses every key press.
func NewWebhooks(secret string, r anxin.DeliveryReports, confirm func(ctx context.Context, r VoiceReport) error, log *slog.Logger) (*Webhooks, error) {
	if len(secret) < 16 {
		return nil, errors.New("aliyun: the report path secret must be at least 16 characters")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhooks{secret: secret, reports: r, confirm: confirm, log: log, seen: map[string]bool{}}, nil
}

// Mount adds POST /aliyun/<secret>/{sms_report,voice_report,voice_call_report}.
func (h *Webhooks) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /aliyun/{secret}/{kind}", h.serve)
}

func (h *Webhooks) serve(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.PathValue("secret")), []byte(h.secret)) != 1 {
		http.NotFound(w, r) // the path is the secret: say nothing more
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReportBody+1))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	kind := r.PathValue("kind")
	switch kind {
	case "sms_report":
		err = h.sms(r.Context(), body)
	case "voice_report", "voice_call_report":
		err = h.voice(r.Context(), kind, body)
	default:
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, errBadReport) {
		h.log.Warn("aliyun report refused", "kind", kind, "err", err)
		http.Error(w, `{"code":1,"msg":"bad report"}`, http.StatusBadRequest)
		return
	} else if err != nil {
		h.log.Error("aliyun report not handled; Aliyun will push it again", "kind", kind, "err", err)
		http.Error(w, `{"code":1,"msg":"retry"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"code":0,"msg":"成功"}`)
}

var errBadReport = errors.New("bad report")

// first reports whether key is new, and remembers it.
func (h *Webhooks) first(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[key] {
		return false
	}
	h.seen[key] = true
	h.fifo = append(h.fifo, key)
	if len(h.fifo) > maxSeen {
		delete(h.seen, h.fifo[0])
		h.fifo = h.fifo[1:]
	}
	return true
}

// forget lets a report that failed be handled when Aliyun pushes it again
// (its fifo entry goes too, so a later eviction cannot drop it once re-added).
func (h *Webhooks) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.seen, key)
	if i := slices.Index(h.fifo, key); i >= 0 {
		h.fifo = slices.Delete(h.fifo, i, i+1)
	}
}

func (h *Webhooks) sms(ctx context.Context, body []byte) error {
	rs, err := ParseSMSReports(body)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadReport, err)
	}
	for _, r := range rs {
		key := "sms|" + r.OutID + "|" + r.BizID + "|" + strconv.FormatBool(r.Success)
		if r.OutID == "" || !h.first(key) {
			continue
		}
		st := "delivered"
		if !r.Success {
			st = "undelivered"
		}
		// correlated by out_id alone: the SMS's provider id is ours (see Lookup)
		if err := h.reports.Report(ctx, anxin.StatusReport{AttemptID: r.OutID, Channel: anxin.ChannelSMS, Status: st, ErrorCode: errCode(r)}); err != nil {
			h.forget(key)
			return err
		}
	}
	return nil
}

func errCode(r SMSReport) string {
	if r.Success {
		return ""
	}
	return r.ErrCode
}

func (h *Webhooks) voice(ctx context.Context, kind string, body []byte) error {
	rs, err := ParseVoiceReports(body)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadReport, err)
	}
	for _, r := range rs {
		key := kind + "|" + r.OutID + "|" + r.CallID + "|" + r.StatusCode + "|" + r.DTMF
		if r.OutID == "" || r.CallID == "" || !h.first(key) {
			continue
		}
		if err := h.voiceOne(ctx, r); err != nil {
			h.forget(key)
			return err
		}
	}
	return nil
}

func (h *Webhooks) voiceOne(ctx context.Context, r VoiceReport) error {
	if strings.Contains(r.DTMF, "1") {
		// unsigned: only a call Aliyun itself confirms may accept an alarm
		if h.confirm == nil {
			h.log.Warn("key press not confirmed: no query configured", "attempt", r.OutID)
		} else if err := h.confirm(ctx, r); errors.Is(err, ErrContradicted) {
			h.log.Warn("key press contradicted by Aliyun's call detail; ignored", "attempt", r.OutID, "err", err)
		} else if err != nil {
			// cannot tell yet (the detail is not there, the query failed):
			// answer an error, so Aliyun pushes the report again
			h.log.Warn("key press not confirmed yet; Aliyun will push it again", "attempt", r.OutID, "err", err)
			return err
		} else if _, err := h.reports.Press(ctx, r.OutID, r.CallID, "1"); err != nil {
			return err
		}
	}
	st, by := voiceStatus(r.StatusCode)
	if st == "" {
		return nil
	}
	return h.reports.Report(ctx, anxin.StatusReport{AttemptID: r.OutID, ProviderID: r.CallID, Channel: anxin.ChannelVoice,
		Status: st, AnsweredBy: by})
}

// Confirm asks Aliyun (QueryCallDetailByCallId) whether the call of a
// report exists, was answered and, where the detail tells keys, had 1
// pressed. A forged report names a call Aliyun does not know.
func (n *Notifier) Confirm(_ context.Context, r VoiceReport) error {
	q := map[string]*string{
		"CallId": dara.String(r.CallID), "ProdId": dara.String("11000000300006"),
		"QueryDate": dara.String(strconv.FormatInt(time.Now().UnixMilli(), 10)),
	}
	body, err := n.rpc("QueryCallDetailByCallId", q)
	if err != nil {
		_, err = classify(err)
		return err
	}
	if code := str(body, "Code"); code != "OK" {
		return fmt.Errorf("aliyun: QueryCallDetailByCallId: %s", code)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(str(body, "Data")), &d); err != nil || d == nil {
		return errors.New("aliyun: no such call")
	}
	if id := fmt.Sprint(d["callId"]); id != r.CallID {
		return errors.New("aliyun: no such call")
	}
	if st := fmt.Sprint(d["state"]); st != "200000" {
		return fmt.Errorf("aliyun: the call was not answered (state %.16s)", st)
	}
	if k, ok := d["dtmf"]; ok && !strings.Contains(fmt.Sprint(k), "1") {
		return fmt.Errorf("%w: no key 1 in the call", ErrContradicted)
	}
	return nil
}

// ErrContradicted is a confirmation that Aliyun's own call detail refutes
// (keys were recorded, and 1 is not among them): the press is not believed.
// Any other failure of Confirm means "cannot tell yet".
var ErrContradicted = errors.New("aliyun: the call detail contradicts the report")
