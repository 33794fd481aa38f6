package server

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseQuery reads what url.ParseQuery reads, and refuses what it refuses,
// besides parameters not allowed or repeated.
func TestParseQuery(t *testing.T) {
	allowed := []string{"consistency", "prev-value", "prev-length"}
	for _, raw := range []string{
		"", "consistency=stale", "consistency=stale&", "&&consistency=leader",
		"prev-value=a%20b+c", "prev-value=", "prev-value", "prev%2Dvalue=x&prev-length=3",
		"prev-value=%zz", "consistency=stale;x=1", "prev-value=%",
	} {
		want, werr := url.ParseQuery(raw)
		got, err := parseQuery(raw, allowed)
		if werr != nil {
			require.Error(t, err, raw)
			require.Contains(t, err.Error(), "bad query string", raw)
			continue
		}
		require.NoError(t, err, raw)
		require.Equal(t, len(want), got.n, raw)
		for name, vals := range want {
			require.True(t, got.has(name), raw)
			require.Equal(t, vals[0], got.get(name), raw)
		}
	}
	for raw, msg := range map[string]string{
		"x=1":                                   `unknown parameter "x"`,
		"consistency=stale&consistency=leader":  `parameter "consistency" given 2 times`,
		"prev-value=a&prev-length=1&prev-value": `parameter "prev-value" given`,
	} {
		_, err := parseQuery(raw, allowed)
		require.ErrorContains(t, err, msg, raw)
	}
}
