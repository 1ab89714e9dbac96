package anxin

import "strings"

// Area is what a token may see, matched exactly on the current address of
// an elder: a village/community (Village only: every township), a village of
// one township (both), or a whole township (Township only). The zero Area is
// the whole district. Never township-or-village: a village named like
// another community's township must not fall into its area.
type Area struct {
	Township string
	Village  string
}

// ParseArea reads a token's area: "" (district), "善广村" (a village),
// "屏山街道/善广村" (a village of a township) or "屏山街道/*" (a township).
func ParseArea(s string) (Area, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Area{}, nil
	}
	t, v, both := strings.Cut(s, "/")
	t, v = strings.TrimSpace(t), strings.TrimSpace(v)
	switch {
	case !both:
		return Area{Village: t}, nil
	case t == "" || t == "*" || v == "" || strings.Contains(v, "/"):
		return Area{}, Errorf(EINVALID, "an area is a village, township/village or township/*")
	case v == "*":
		return Area{Township: t}, nil
	}
	return Area{Township: t, Village: v}, nil
}

// All reports whether the area is the whole district.
func (a Area) All() bool { return a == Area{} }

// Contains reports whether a current address lies in the area.
func (a Area) Contains(township, village string) bool {
	return (a.Township == "" || a.Township == township) && (a.Village == "" || a.Village == village)
}

func (a Area) String() string {
	switch {
	case a.Township == "":
		return a.Village
	case a.Village == "":
		return a.Township + "/*"
	}
	return a.Township + "/" + a.Village
}
