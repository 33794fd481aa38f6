package testkit

import (
	"bytes"
	"context"
	"net/http"
)

// HTTPDo sends one request with client and returns the status, the whole
// body and the headers. A request that gets no answer is status 0, with
// the error's text as the body, so that a test can poll or report it
// like any other answer.
func HTTPDo(ctx context.Context, client *http.Client, method, url string, body []byte) (int, []byte, http.Header) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, []byte(err.Error()), nil
	}
	return resp.StatusCode, buf.Bytes(), resp.Header
}
