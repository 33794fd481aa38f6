package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteTable prints rows as a Markdown table: throughput, p50 and p99
// latency, failures and the throughput ratio to the baseline.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| section | case | callers | size/level | ops/s | p50 | p99 | CPU/op | errors | × baseline |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
	for i := range rows {
		r := &rows[i]
		what := sizeLabel(r.Size)
		if r.Level != "" {
			what = r.Level
		}
		ratio := "—"
		if x := r.Ratio(); x > 0 {
			ratio = fmt.Sprintf("%.2f", x)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Section, r.Name, r.Callers, what, fmtRate(r.Result.Throughput()),
			FmtDur(r.Result.Percentile(0.5)), FmtDur(r.Result.Percentile(0.99)), FmtDur(r.Result.CPUPerOp()),
			fmtErrors(r.Result), ratio)
	}
}

func fmtErrors(r Result) string {
	if r.Errors == 0 {
		return "0"
	}
	msg := ""
	if r.FirstErr != nil {
		msg = r.FirstErr.Error()
		if len(msg) > 60 {
			msg = msg[:60]
		}
		msg = " (" + strings.ReplaceAll(msg, "|", "/") + ")"
	}
	return fmt.Sprintf("%d%s", r.Errors, msg)
}

func fmtRate(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.1f", x)
	}
}

// FmtDur renders a duration with three significant figures.
func FmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
