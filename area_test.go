package anxin

import "testing"

func TestParseArea(t *testing.T) {
	for in, want := range map[string]Area{"": {}, " 善广村 ": {Village: "善广村"}, "屏山街道/善广村": {Township: "屏山街道", Village: "善广村"},
		"屏山街道/*": {Township: "屏山街道"}} {
		got, err := ParseArea(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
		if back, _ := ParseArea(got.String()); back != got {
			t.Errorf("%q: String %q reads back as %+v", in, got.String(), back)
		}
	}
	for _, bad := range []string{"/善广村", "屏山街道/", "a/b/c", "*/x"} {
		if _, err := ParseArea(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	a := Area{Township: "屏山街道"}
	if !a.Contains("屏山街道", "东村") || a.Contains("城关镇", "屏山街道") {
		t.Error("township area matches the village level")
	}
}
