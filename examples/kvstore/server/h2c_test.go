package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// h2cClient speaks only HTTP/2 without TLS (prior knowledge). Its
// connections are closed when the test ends.
func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

func doWith(ctx context.Context, c *http.Client, method, url string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestH2C: a kvstore process answers an HTTP/2-only client without TLS,
// many requests at once on one connection, writes and reads alike.
func TestH2C(t *testing.T) {
	bin := buildKvstore(t)
	procs := startCluster(t, bin, 1)
	waitReady(t, procs...)
	base := "http://" + procs[0].http
	client := h2cClient(t)
	ctx := testkit.Context(t, time.Minute)

	var conns sync.Map // local addresses of the client's connections
	const n = 64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h2cRoundTrip(ctx, client, base, i, &conns)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	count := 0
	conns.Range(func(any, any) bool { count++; return true })
	t.Logf("%d requests on %d connections", 2*n, count)
	require.Positive(t, count)
	require.LessOrEqual(t, count, n/4, "requests share connections")

	resp, body, err := doWith(ctx, client, http.MethodPost, base+"/batch", []byte(`{"ops": [{"op": "get", "key": "k7"}]}`))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, 2, resp.ProtoMajor)
	require.JSONEq(t, `{"results": [{"status": 200, "value": "v7"}]}`, string(body))
}

// h2cRoundTrip writes key k<i> and reads it back over HTTP/2, recording the
// connection each request used.
func h2cRoundTrip(ctx context.Context, c *http.Client, base string, i int, conns *sync.Map) error {
	key, value := fmt.Sprintf("%s/kv/k%d", base, i), fmt.Sprintf("v%d", i)
	for _, step := range []struct {
		method string
		body   []byte
		status int
	}{{http.MethodPut, []byte(value), http.StatusNoContent}, {http.MethodGet, nil, http.StatusOK}} {
		tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			conns.Store(info.Conn.LocalAddr().String(), true)
		}})
		resp, body, err := doWith(tctx, c, step.method, key, step.body)
		switch {
		case err != nil:
			return err
		case resp.ProtoMajor != 2:
			return fmt.Errorf("%s %s answered over %s", step.method, key, resp.Proto)
		case resp.StatusCode != step.status:
			return fmt.Errorf("%s %s: %d %s", step.method, key, resp.StatusCode, body)
		case step.method == http.MethodGet && string(body) != value:
			return fmt.Errorf("GET %s: %q, want %q", key, body, value)
		}
	}
	return nil
}

// serveHTTP serves h with the kvstore's server settings for o on a
// loopback port, over TLS when cert is set, and returns the address.
func serveHTTP(t *testing.T, o options, h http.Handler, cert, key string) string {
	srv := newHTTPServer(h, o, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if cert != "" {
			_ = srv.ServeTLS(ln, cert, key)
			return
		}
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// With -http-h2c=false an h2c client gets no answer, and HTTP/1.1 still
// works; over TLS, HTTP/2 is negotiated as usual.
func TestH2CFlagAndTLS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
	ctx := testkit.Context(t, 30*time.Second)
	o := options{maxKeySize: defaultMaxKeySize, requestTimeout: 5 * time.Second}

	on := serveHTTP(t, options{maxKeySize: o.maxKeySize, requestTimeout: o.requestTimeout, h2c: true}, ok, "", "")
	_, body, err := doWith(ctx, h2cClient(t), http.MethodGet, "http://"+on+"/", nil)
	require.NoError(t, err)
	require.Equal(t, "HTTP/2.0", string(body))

	off := serveHTTP(t, o, ok, "", "")
	_, _, err = doWith(ctx, h2cClient(t), http.MethodGet, "http://"+off+"/", nil)
	require.Error(t, err, "h2c refused with -http-h2c=false")
	_, body, err = doWith(ctx, httpClient, http.MethodGet, "http://"+off+"/", nil)
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1", string(body))

	ca := rpctest.NewCA(t)
	files := secureFiles(t, ca)
	tlsAddr := serveHTTP(t, o, ok, files[7], files[9])
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	_, body, err = doWith(ctx, &http.Client{Transport: tr}, http.MethodGet, "https://"+tlsAddr+"/", nil)
	require.NoError(t, err)
	require.Equal(t, "HTTP/2.0", string(body))
}
