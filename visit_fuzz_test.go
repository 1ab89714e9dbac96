package anxin

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzVisitJSON: a visit as a client sends it (JSON, methods and items in
// the form's words or as codes) never panics the decoder, NormalizeItems
// or Summarize; what NormalizeItems accepts has every item a key of
// VisitItems with one of its options, and errors are in Mandarin.
func FuzzVisitJSON(f *testing.F) {
	f.Add(`{"elder":"e-1","method":"上门探访","items":{"用电安全":"不安全","speech":"较好"},"family_count":0}`)
	f.Add(`{"method":"phone","items":{"family":"增加"},"family_count":2,"services":[{"content":"送餐","satisfaction":"满意"}]}`)
	f.Add(`{"method":"互联网音（视）频探访","items":{"用电安全":"☑ 不安全","power":"安全"}}`)
	f.Add(`{"method":1,"items":{"x":"y"}}`)
	f.Add(`{"method":"□ 其他","items":{"疾病状况":"严重"},"illness_name":"\u0000"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var v Visit
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return
		}
		if v.Method.Valid() && v.Method.Label() == "" {
			t.Fatalf("method %q has no label", v.Method)
		}
		if m, ok := ParseVisitMethod(v.Method.Label()); v.Method.Valid() && (!ok || m != v.Method) {
			t.Fatalf("label of %q does not read back", v.Method)
		}
		err := v.NormalizeItems()
		if err != nil {
			msg := ErrorMessage(err)
			if ErrorCode(err) != EINVALID || !utf8.ValidString(msg) || !strings.ContainsFunc(msg, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
				t.Fatalf("error %v is not a Mandarin EINVALID", err)
			}
			return
		}
		for k, val := range v.Items {
			it, ok := VisitItemByName(k)
			if !ok || it.Key != k || !slices.Contains(it.Options, val) {
				t.Fatalf("accepted item %q = %q from %s", k, val, raw)
			}
		}
		v.Summarize()
		if len(v.Items) > 0 && v.Health == "" && v.Safety == "" && v.Hygiene == "" && v.Environment == "" {
			t.Fatalf("items %v not summarized", v.Items)
		}
	})
}
