package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one run of wrk measured.
type wrkResult struct {
	Result
	P50, P99 time.Duration
}

// wrkScript writes a Lua script for wrk that sends t with a new key on
// every request, cycling through the key space, and returns its path.
func wrkScript(dir, name string, t reqTemplate) (string, error) {
	path := filepath.Join(dir, name+".lua")
	headers := "{}"
	if t.ctype != "" {
		headers = fmt.Sprintf(`{["Content-Type"] = %s}`, luaString(t.ctype))
	}
	var body string
	if t.hasBody() {
		body = fmt.Sprintf("%s .. key .. %s", luaString(t.body[0]), luaString(t.body[1]))
	} else {
		body = "nil"
	}
	script := fmt.Sprintf(`-- one request per call, each with the next key of the key space
local n = 0
request = function()
	n = n + 1
	local key = "k" .. (n %% %d)
	return wrk.format(%s, %s .. key .. %s, %s, %s)
end
`, keySpace, luaString(t.method), luaString(t.path[0]), luaString(t.path[1]), headers, body)
	return path, os.WriteFile(path, []byte(script), 0o600)
}

// luaString quotes s as a Lua long string, which takes every byte as it is.
func luaString(s string) string {
	eq := ""
	for strings.Contains(s, "]"+eq+"]") {
		eq += "="
	}
	return "[" + eq + "[" + s + "]" + eq + "]"
}

// runWrk runs wrk (the binary bin) with the script against base for d (in
// whole seconds, at least one) on conns connections, and parses its report.
func runWrk(ctx context.Context, bin, script, base string, conns int, d time.Duration) (wrkResult, error) {
	secs := max(1, int(math.Ceil(d.Seconds())))
	threads := min(2, conns)
	cmd := exec.CommandContext(ctx, bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", secs), "--timeout", "10s", "--latency", "-s", script, base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("bench: wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

// parseWrk reads wrk's report (with --latency): the requests and the time
// they took, the 50th and 99th latency percentiles, and the failures
// (socket errors and responses outside 2xx and 3xx).
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var total int
	var seen bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return r, fmt.Errorf("bench: wrk report: %q: %w", sc.Text(), err)
			}
			d, err := wrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			total, r.Elapsed, seen = n, d, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := wrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.P50 = d
			} else {
				r.P99 = d
			}
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:"):
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return r, fmt.Errorf("bench: wrk report: %q: %w", sc.Text(), err)
			}
			r.Errors += n
			r.FirstErr = fmt.Errorf("wrk: %d responses outside 2xx and 3xx", n)
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				if err != nil {
					return r, fmt.Errorf("bench: wrk report: %q: %w", sc.Text(), err)
				}
				r.Errors += n
			}
			if r.Errors > 0 && r.FirstErr == nil {
				r.FirstErr = fmt.Errorf("wrk: %s", strings.TrimSpace(sc.Text()))
			}
		}
	}
	if !seen || r.P50 == 0 {
		return r, fmt.Errorf("bench: wrk report without a request count or latency distribution:\n%s", out)
	}
	r.Ops = max(0, total-r.Errors)
	return r, nil
}

// wrkDuration parses wrk's durations: a number with us, ms, s, m or h.
func wrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: wrk duration %q: %w", s, err)
			}
			return time.Duration(x * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bench: wrk duration %q: no unit", s)
}
