package aliyun_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
)

const (
	keyID     = "LTAI5tFakeKeyId0001"
	keySecret = "fakeSecretForTests000000000001"
)

// fakeAliyun answers the RPC API as Aliyun does, after checking what the
// real API checks: signature v1 (HMAC-SHA1 over the sorted, percent-encoded
// parameters), Action and Version, and the template parameters as JSON.
type fakeAliyun struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	reqs  []url.Values
	calls map[string]fakeCall // call id → call
	sent  chan url.Values     // every accepted send request
	down  bool                // answer 503 to everything
	hang  bool                // answer nothing until the client gives up
	// refuse answers sends to these numbers (as Aliyun writes them,
	// without +86) 200 with this Code, as Aliyun refuses a number
	refuse map[string]string
}

type fakeCall struct {
	outID, state, dtmf string
}

func newFakeAliyun(t testing.TB) *fakeAliyun {
	return newFakeAliyunN(t, 100)
}

// newFakeAliyunN holds up to n send requests in sent.
func newFakeAliyunN(t testing.TB, n int) *fakeAliyun {
	f := &fakeAliyun{t: t, calls: map[string]fakeCall{}, sent: make(chan url.Values, n)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// endpoint is host:port, as the SDK takes it.
func (f *fakeAliyun) endpoint() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeAliyun) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// answer makes a call known as answered with the keys pressed.
func (f *fakeAliyun) answer(callID, dtmf string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls[callID]
	c.state, c.dtmf = "200000", dtmf
	f.calls[callID] = c
}

func percentEncode(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(e)
}

func signV1(method string, params url.Values, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, percentEncode(k)+"="+percentEncode(params.Get(k)))
	}
	toSign := method + "&" + percentEncode("/") + "&" + percentEncode(strings.Join(parts, "&"))
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(toSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (f *fakeAliyun) fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"Code":%q,"Message":%q,"RequestId":"req"}`, code, code)
}

func (f *fakeAliyun) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.fail(w, 400, "InvalidParameter")
		return
	}
	p := r.Form
	f.mu.Lock()
	down, hang := f.down, f.hang
	f.reqs = append(f.reqs, p)
	f.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	if down {
		f.fail(w, 503, "ServiceUnavailable")
		return
	}
	if p.Get("SignatureMethod") != "HMAC-SHA1" || p.Get("SignatureVersion") != "1.0" || p.Get("AccessKeyId") != keyID ||
		p.Get("SignatureNonce") == "" || p.Get("Timestamp") == "" || p.Get("Format") != "json" {
		f.fail(w, 400, "MissingSignatureParameters")
		return
	}
	if got, want := p.Get("Signature"), signV1(r.Method, p, keySecret); got != want {
		f.fail(w, 400, "SignatureDoesNotMatch")
		return
	}
	if p.Get("Version") != "2017-05-25" {
		f.fail(w, 400, "InvalidVersion")
		return
	}
	templateOK := func(k string) bool {
		var m map[string]string
		return json.Unmarshal([]byte(p.Get(k)), &m) == nil && (m["text"] != "" || m["what"] != "")
	}
	w.Header().Set("Content-Type", "application/json")
	f.mu.Lock()
	code := f.refuse[p.Get("PhoneNumbers")+p.Get("CalledNumber")]
	f.mu.Unlock()
	if a := p.Get("Action"); code != "" && (a == "SendSms" || a == "SingleCallByTts") {
		fmt.Fprintf(w, `{"Code":%q,"Message":%q,"RequestId":"req"}`, code, code)
		return
	}
	switch p.Get("Action") {
	case "SendSms":
		if p.Get("SignName") == "" || p.Get("TemplateCode") == "" || !templateOK("TemplateParam") ||
			p.Get("PhoneNumbers") == "" || strings.HasPrefix(p.Get("PhoneNumbers"), "+") {
			f.fail(w, 400, "isv.INVALID_PARAMETERS")
			return
		}
		f.sent <- p
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","BizId":"biz-%s","RequestId":"req"}`, p.Get("OutId"))
	case "SingleCallByTts":
		if p.Get("CalledShowNumber") == "" || p.Get("TtsCode") == "" || !templateOK("TtsParam") || p.Get("CalledNumber") == "" {
			f.fail(w, 400, "isv.INVALID_PARAMETERS")
			return
		}
		id := "call-" + p.Get("OutId")
		f.mu.Lock()
		f.calls[id] = fakeCall{outID: p.Get("OutId"), state: "100000"}
		f.mu.Unlock()
		f.sent <- p
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","CallId":%q,"RequestId":"req"}`, id)
	case "QueryCallDetailByCallId":
		f.mu.Lock()
		c, ok := f.calls[p.Get("CallId")]
		f.mu.Unlock()
		if !ok {
			fmt.Fprint(w, `{"Code":"OK","Message":"OK","Data":""}`)
			return
		}
		data, _ := json.Marshal(map[string]string{"callId": p.Get("CallId"), "state": c.state, "dtmf": c.dtmf})
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","Data":%q}`, data)
	case "QuerySendDetails":
		fmt.Fprint(w, `{"Code":"OK","Message":"OK","TotalCount":0,"SmsSendDetailDTOs":{"SmsSendDetailDTO":[]}}`)
	default:
		f.fail(w, 400, "InvalidAction.NotFound")
	}
}
