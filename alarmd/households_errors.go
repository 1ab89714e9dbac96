package alarmd

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
)

// The households file's errors are typed here, where its bytes and path
// are at hand, so that ConfigErrorText names the entry and key
// (households[3].contacts[0].phone) an operator edits. The English text
// stays what the decoders say (numbers scrubbed); no value of a
// household's own (a name, a phone, an address) is put in the Mandarin.

// householdsFileError: households_file cannot be read.
func householdsFileError(path string, err error) error {
	ce := configerr.NewConfigError(configerr.FileUnreadable, "households_file", "%v", err).WithValue(path)
	ce.Err = err
	return ce
}

// householdProblem types what h.Validate refused in households[i]; err is
// its error, kept as the English detail. Where is found with the domain's
// own checks, in the order Validate makes them.
func householdProblem(i int, h *anxin.Household, err error) *configerr.ConfigError {
	key := fmt.Sprintf("households[%d]", i)
	ce := &configerr.ConfigError{Kind: configerr.ValueBad, Key: key, Detail: anxin.ErrorMessage(err), Err: err}
	switch {
	case !anxin.ValidID(h.ID):
		ce.Kind, ce.Key, ce.Value = configerr.ValueNotID, key+".id", h.ID
	case h.Elder.Tier != "" && !h.Elder.Tier.Valid():
		ce.Kind, ce.Key, ce.Value = configerr.ValueNotChoice, key+".elder.tier", string(h.Elder.Tier)
		ce.Choices = []string{string(anxin.TierIrregular), string(anxin.TierGeneral), string(anxin.TierKey), string(anxin.TierHigh)}
	case len(h.Contacts) > anxin.MaxPersonalContacts:
		ce.Kind, ce.Key, ce.Value = configerr.ValueOutOfRange, key+".contacts", strconv.Itoa(len(h.Contacts))
		ce.Range = fmt.Sprintf("至多 %d 位", anxin.MaxPersonalContacts)
	case slices.ContainsFunc(h.Chain(), func(c anxin.Contact) bool { return !anxin.ValidPhone(c.Phone) }):
		n := slices.IndexFunc(h.Chain(), func(c anxin.Contact) bool { return !anxin.ValidPhone(c.Phone) })
		list := "contacts"
		if n >= len(h.Contacts) {
			list, n = "community", n-len(h.Contacts)
		}
		ce.Kind, ce.Key, ce.Want = configerr.ValueWrongType, fmt.Sprintf("%s.%s[%d].phone", key, list, n), "phone"
	case len(h.Devices) > anxin.MaxDevices:
		ce.Kind, ce.Key, ce.Value = configerr.ValueOutOfRange, key+".devices", strconv.Itoa(len(h.Devices))
		ce.Range = fmt.Sprintf("至多 %d 个", anxin.MaxDevices)
	default:
		for j, d := range h.Devices {
			switch {
			case !anxin.ValidID(d.ID):
				ce.Kind, ce.Key, ce.Value = configerr.ValueNotID, fmt.Sprintf("%s.devices[%d].id", key, j), d.ID
			case !d.Kind.Valid():
				ce.Kind, ce.Key, ce.Value = configerr.ValueNotChoice, fmt.Sprintf("%s.devices[%d].kind", key, j), string(d.Kind)
				for _, k := range anxin.Kinds {
					ce.Choices = append(ce.Choices, string(k))
				}
			default:
				continue
			}
			break
		}
	}
	return ce
}

// householdsDecodeError types the decoders' complaint about data:
// "line 8: field pets not found in type anxin.Household", "line 3: cannot
// unmarshal !!seq into anxin.Tier", "yaml: line 4: did not find …".
func householdsDecodeError(data []byte, path string, err error) error {
	var ce *configerr.ConfigError
	if errors.As(err, &ce) {
		c := *ce
		c.File = path
		return &c
	}
	msg := strings.TrimPrefix(err.Error(), "households: ")
	first, _, _ := strings.Cut(msg, "; ")
	ce = &configerr.ConfigError{Kind: configerr.ValueBad, Detail: err.Error(), File: path, Err: err}
	if strings.HasPrefix(first, "yaml: ") {
		var syn *configerr.ConfigError
		errors.As(configerr.YAMLSyntax(data, errors.New(strings.TrimPrefix(first, "yaml: "))), &syn)
		syn.Detail, syn.File = configerr.ScrubYAML(err.Error()), path
		if syn.Detail == err.Error() {
			syn.Err = err
		}
		return syn
	}
	m := decodeLine.FindStringSubmatch(first)
	if m == nil {
		return ce
	}
	ce.Line, _ = strconv.Atoi(m[1])
	if f := unknownField.FindStringSubmatch(m[2]); f != nil {
		ce.Kind = configerr.KeyUnknown
		ce.Key = householdsKeyAt(data, ce.Line, func(k, _ *yaml.Node) bool { return k.Value == f[1] })
		if t, ok := householdTypes[f[2]]; ok {
			ce.Choices = yamlFields(t)
			if best := configerr.Closest(f[1], ce.Choices); best != "" {
				ce.Suggest = parentKey(ce.Key) + "." + best
			}
		}
		return ce
	}
	if u := cannotUnmarshal.FindStringSubmatch(m[2]); u != nil {
		ce.Kind = configerr.ValueWrongType
		ce.Key = householdsKeyAt(data, ce.Line, func(_, v *yaml.Node) bool { return v.ShortTag() == u[1] })
		switch t := u[2]; {
		case strings.HasPrefix(t, "[]"):
			ce.Want = "list"
		case t == "anxin.Household" || t == "anxin.Elder" || t == "anxin.Contact" || t == "anxin.Device":
			ce.Want = "section"
		default:
			ce.Want = "text"
		}
	}
	return ce
}

var (
	decodeLine      = regexp.MustCompile(`^line ([0-9]+): (.*)$`)
	unknownField    = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	cannotUnmarshal = regexp.MustCompile(`^cannot unmarshal (!!\w+) .*into (\S+)$`)
	itemStart       = regexp.MustCompile(`^( *)- `)
	householdTypes  = map[string]reflect.Type{
		"anxin.Household": reflect.TypeFor[anxin.Household](), "anxin.Elder": reflect.TypeFor[anxin.Elder](),
		"anxin.Contact": reflect.TypeFor[anxin.Contact](), "anxin.Device": reflect.TypeFor[anxin.Device](),
	}
)

func yamlFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// householdsKeyAt is the key of the node on line (1-based) that match
// picks: households[2].elder.adress. Only the household entry holding the
// line is parsed again (a district's file is large); "" when not found.
func householdsKeyAt(data []byte, line int, match func(k, v *yaml.Node) bool) string {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return ""
	}
	indent, index, start := -1, -1, 0
	for n, l := range lines[:line] {
		m := itemStart.FindSubmatch(l)
		if m == nil || (indent >= 0 && len(m[1]) != indent) {
			continue
		}
		indent, index, start = len(m[1]), index+1, n
	}
	if index < 0 {
		return ""
	}
	end := len(lines)
	for n := line; n < len(lines); n++ {
		if m := itemStart.FindSubmatch(lines[n]); m != nil && len(m[1]) == indent {
			end = n
			break
		}
	}
	var doc yaml.Node
	if yaml.Unmarshal(bytes.Join(lines[start:end], []byte("\n")), &doc) != nil || len(doc.Content) != 1 ||
		doc.Content[0].Kind != yaml.SequenceNode || len(doc.Content[0].Content) == 0 {
		return fmt.Sprintf("households[%d]", index)
	}
	want := line - start // the line within the entry
	var find func(n *yaml.Node, key string) string
	find = func(n *yaml.Node, key string) string {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if (k.Line == want || v.Line == want) && match(k, v) {
					return key + "." + k.Value
				}
				if s := find(v, key+"."+k.Value); s != "" {
					return s
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if s := find(c, fmt.Sprintf("%s[%d]", key, i)); s != "" {
					return s
				}
			}
		}
		return ""
	}
	if s := find(doc.Content[0].Content[0], fmt.Sprintf("households[%d]", index)); s != "" {
		return s
	}
	return fmt.Sprintf("households[%d]", index)
}
