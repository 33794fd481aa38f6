package server

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// maxParams is the most parameters a route allows.
const maxParams = 4

// query holds a request's query parameters, each given at most once, in a
// value that needs no allocation.
type query struct {
	params [maxParams]param
	n      int
}

type param struct{ name, value string }

func (q *query) get(name string) string {
	for _, p := range q.params[:q.n] {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

func (q *query) has(name string) bool {
	return slices.ContainsFunc(q.params[:q.n], func(p param) bool { return p.name == name })
}

// parseQuery parses a raw query string, allowing only the parameters
// named (at most maxParams), each at most once. It reads the same syntax as url.ParseQuery
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
			return query{}, fmt.Errorf("bad query string: invalid semicolon separator in %q", pair)
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return query{}, fmt.Errorf("bad query string: %w", err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return query{}, fmt.Errorf("bad query string: %w", err)
		}
		if !slices.Contains(allowed, name) {
			return query{}, fmt.Errorf("unknown parameter %q", name)
		}
		if q.has(name) {
			return query{}, fmt.Errorf("parameter %q given %d times", name, 2+strings.Count("&"+raw, "&"+rawName+"="))
		}
		if q.n == maxParams {
			return query{}, fmt.Errorf("more than %d parameters", maxParams)
		}
		q.params[q.n] = param{name, value}
		q.n++
	}
	return q, nil
}
