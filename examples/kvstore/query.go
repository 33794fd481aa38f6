package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// query holds a request's query parameters, each given at most once.
type query []param

type param struct{ name, value string }

func (q query) get(name string) string {
	for _, p := range q {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

func (q query) has(name string) bool {
	return slices.ContainsFunc(q, func(p param) bool { return p.name == name })
}

// parseQuery parses a raw query string, allowing only the parameters
// named, each at most once. It reads the same syntax as url.ParseQuery
// without building a map: most requests have no parameter or one.
func parseQuery(raw string, allowed []string) (query, error) {
	var q query
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, fmt.Errorf("bad query string: invalid semicolon separator in %q", pair)
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, fmt.Errorf("bad query string: %w", err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("bad query string: %w", err)
		}
		if !slices.Contains(allowed, name) {
			return nil, fmt.Errorf("unknown parameter %q", name)
		}
		if q.has(name) {
			return nil, fmt.Errorf("parameter %q given %d times", name, 2+strings.Count("&"+raw, "&"+rawName+"="))
		}
		q = append(q, param{name, value})
	}
	return q, nil
}
