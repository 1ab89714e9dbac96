package rules

import (
	"reflect"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Marshal writes the config back as YAML that Parse reads to an equal
// config: defaults are written out, overrides as they were given.
func (c *Config) Marshal() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	addPair(root, "timezone", str(c.Timezone))
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range c.Rules {
		list.Content = append(list.Content, r.node())
	}
	addPair(root, "rules", list)
	return yaml.Marshal(root)
}

func (r *Rule) node() *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	addFields(n, reflect.ValueOf(r).Elem())
	addFields(n, reflect.ValueOf(r.Params).Elem())
	if r.overrides != nil {
		addPair(n, "overrides", r.overrides)
	}
	return n
}

func addPair(n *yaml.Node, key string, v *yaml.Node) {
	n.Content = append(n.Content, str(key), v)
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

// addFields adds every tagged, non-zero field of struct s (and of a
// struct it embeds inline).
func addFields(n *yaml.Node, s reflect.Value) {
	t := s.Type()
	for i := 0; i < t.NumField(); i++ {
		if isInline(t.Field(i)) {
			addFields(n, s.Field(i))
			continue
		}
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" || !t.Field(i).IsExported() || s.Field(i).IsZero() {
			continue
		}
		addPair(n, tag, valueNode(s.Field(i)))
	}
}

func valueNode(v reflect.Value) *yaml.Node {
	switch v.Type() {
	case durationType, silenceType:
		return str(v.Interface().(interface{ String() string }).String())
	}
	switch v.Kind() {
	case reflect.String:
		return str(v.String())
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	case reflect.Int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Pointer:
		return valueNode(v.Elem())
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, valueNode(v.Index(i)))
		}
		return n
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
				addPair(n, tag, valueNode(v.Field(i)))
			}
		}
		return n
	}
	return str(v.String())
}
