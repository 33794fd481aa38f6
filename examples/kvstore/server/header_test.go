package server

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// heapInuse is the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Clients sending huge, unterminated headers are cut off at the header
// limit, which does not grow with the value size: 100 of them, each sending
// 3 MB of one header line, cost the server a few megabytes at most.
func TestHugeHeadersHoldBoundedMemory(t *testing.T) {
	const conns, each = 100, 3 << 20
	o := options{maxKeySize: defaultMaxKeySize, maxValueSize: defaultMaxValueSize, requestTimeout: 10 * time.Second}
	limit := headerLimit(o.maxKeySize)
	srv := newHTTPServer(http.NotFoundHandler(), o, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	junk := bytes.Repeat([]byte("a"), each)
	before := heapInuse()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	codes := make(chan string, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			_, _ = fmt.Fprintf(c, "GET /kv/x HTTP/1.1\r\nHost: kv\r\nX-Junk: ")
			_, _ = c.Write(junk) // never terminated; the server stops reading at its limit
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			status := make([]byte, 12)
			_, _ = io.ReadFull(c, status)
			codes <- string(status)
		}()
	}
	wg.Wait()
	close(codes)
	t.Cleanup(func() {
		for _, c := range open {
			_ = c.Close()
		}
	})
	grown := heapInuse() - min(before, heapInuse())
	const bound = 16 << 20 // with the old 3 MB limit: about 100 MiB
	t.Logf("header limit %d KiB; heap grown by %d KiB with %d clients each sending %d MiB of header (bound %d KiB)",
		limit>>10, grown>>10, conns, each>>20, bound>>10)
	require.Less(t, grown, uint64(bound))
	for code := range codes {
		require.Contains(t, code, "431", "the server refuses the oversized header")
	}
}
