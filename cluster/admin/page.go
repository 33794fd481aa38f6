package admin

import (
	_ "embed"
	"net/http"
)

// page is the status page: one self-contained document (no external
// script, style or font), which reads the same JSON endpoints an operator's
// tools read, relative to its own URL.
//
//go:embed page.html
var page []byte

func (h *Handler) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(page)
}
