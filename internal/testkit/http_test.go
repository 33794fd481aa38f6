package testkit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHTTPDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(append([]byte("got "), body...))
	}))
	client := srv.Client()
	status, body, h := HTTPDo(context.Background(), client, http.MethodPut, srv.URL+"/x", []byte("v"))
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, "got v", string(body))
	require.Equal(t, http.MethodPut, h.Get("X-Method"))

	srv.Close()
	status, body, h = HTTPDo(context.Background(), client, http.MethodGet, srv.URL+"/x", nil)
	require.Zero(t, status, "no answer is status 0")
	require.Contains(t, string(body), "connect")
	require.Nil(t, h)
}
