package alarmd

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
)

// splitGroup is how many households one YAML decode takes: their node trees
// are all that is held at once besides the file and the result.
const splitGroup = 256

// parseHouseholdsSplit decodes a households file of the usual shape — a
// top-level "households:" line and then a block sequence, nothing after it
// — a group of items at a time, each group a YAML document of its own
// decoded by the same strict decoder. ok is false when the file is not of
// that shape, or a group has a syntax error (the whole-document decoder
// then says what and where, as it always did). A line at the sequence's
// indent starting "- " begins an item: block scalars and plain continuation
// lines are always indented deeper, and a quoted scalar or flow collection
// cut there is unterminated in its group, a syntax error. Anchors and
// aliases (whose limits count the whole document) are left to the whole
// decoder. Type errors (unknown fields, wrong kinds) are collected over the
// groups with the file's line numbers, as the whole decoder reports them.
func parseHouseholdsSplit(data []byte) (list []anxin.Household, ok bool, err error) {
	return parseHouseholdsGroups(data, splitGroup)
}

// parseHouseholdsGroups is parseHouseholdsSplit with group households a
// decode (the fuzz target cuts every 2, so small inputs cross the cuts).
func parseHouseholdsGroups(data []byte, group int) (list []anxin.Household, ok bool, err error) {
	if bytes.ContainsAny(data, "&*\x00") || bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) ||
		bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) {
		return nil, false, nil // YAML's other line breaks: line numbers would drift
	}
	for rest := data; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 {
			break
		}
		if i+1 == len(rest) || rest[i+1] != '\n' {
			return nil, false, nil // so is a lone CR
		}
		rest = rest[i+2:]
	}
	// header: blank and comment lines, then "households:" at column 0
	line, pos := 0, 0
	next := func() (text []byte, at, indent int, more bool) {
		if pos >= len(data) {
			return nil, pos, 0, false
		}
		at = pos
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			text, pos = data[pos:], len(data)
		} else {
			text, pos = data[pos:pos+end], pos+end+1
		}
		line++
		text = bytes.TrimSuffix(text, []byte("\r"))
		for indent < len(text) && text[indent] == ' ' {
			indent++
		}
		return text, at, indent, true
	}
	blank := func(text []byte, indent int) bool { return indent == len(text) || text[indent] == '#' }
	for {
		text, _, indent, more := next()
		if !more {
			return nil, false, nil
		}
		if blank(text, indent) {
			continue
		}
		if !householdsKey.Match(text) {
			return nil, false, nil
		}
		break
	}
	// the items: where each starts, and the sequence's indent (the first's)
	type start struct{ at, line int }
	var starts []start
	seq := -1
	for {
		text, at, indent, more := next()
		if !more {
			break
		}
		if blank(text, indent) {
			continue
		}
		if indent > 1000 { // the decoders' depth limits count the document's own levels
			return nil, false, nil
		}
		item := indent+1 <= len(text) && text[indent] == '-' && (indent+1 == len(text) || text[indent+1] == ' ' || text[indent+1] == '\t')
		switch {
		case seq < 0 && item:
			seq = indent
		case seq < 0 || indent < seq || (indent == seq && !item):
			return nil, false, nil // not one block sequence: another key, a document marker, flow style …
		}
		if indent == seq {
			starts = append(starts, start{at, line})
		}
	}
	if len(starts) == 0 {
		return nil, false, nil
	}
	list = make([]anxin.Household, 0, len(starts))
	var typeErrs []string
	for g := 0; g < len(starts); g += group {
		end := len(data)
		if g+group < len(starts) {
			end = starts[g+group].at
		}
		var group []anxin.Household
		dec := yaml.NewDecoder(bytes.NewReader(data[starts[g].at:end]))
		dec.KnownFields(true)
		if err := dec.Decode(&group); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return nil, false, nil
			}
			for _, e := range te.Errors {
				typeErrs = append(typeErrs, shiftLines(e, starts[g].line-1))
			}
		}
		list = append(list, group...)
	}
	if typeErrs != nil {
		return nil, true, householdsTypeError(typeErrs)
	}
	return list, true, nil
}

// householdsKey is the top-level key line of the usual shape.
var householdsKey = regexp.MustCompile(`^households:([ \t]+(#.*)?)?$`) // "households:#x" is a scalar

// typeErrorLines are where the YAML decoder's type errors name lines.
var typeErrorLines = regexp.MustCompile(`^line ([0-9]+):|already defined at line ([0-9]+)$`)

// shiftLines adds by to the line numbers of a type error of one group.
func shiftLines(e string, by int) string {
	return typeErrorLines.ReplaceAllStringFunc(e, func(m string) string {
		i := bytes.IndexAny([]byte(m), "0123456789")
		j := i
		for j < len(m) && m[j] >= '0' && m[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(m[i:j])
		return m[:i] + strconv.Itoa(n+by) + m[j:]
	})
}
