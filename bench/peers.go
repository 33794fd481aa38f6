package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Peer operations: what a store under comparison is asked to do.
const (
	PeerWrite        = "write"
	PeerStale        = "stale read"
	PeerLinearizable = "linearizable read"
)

// peerValueSize is the size of every value written in the comparison.
const peerValueSize = 64

// keyMark stands for the key in a request template.
const keyMark = "{key}"

// reqTemplate is one request of a store's HTTP API with a key in its path
// or body: the key goes between the two halves of each.
type reqTemplate struct {
	method, ctype string
	path, body    [2]string
	check         func(status int, body []byte) error
}

func newTemplate(method, ctype, path, body string, check func(int, []byte) error) reqTemplate {
	t := reqTemplate{method: method, ctype: ctype, check: check}
	t.path[0], t.path[1], _ = strings.Cut(path, keyMark)
	t.body[0], t.body[1], _ = strings.Cut(body, keyMark)
	return t
}

func (t reqTemplate) hasBody() bool { return t.body[0] != "" || t.body[1] != "" }

// statusIs accepts the listed statuses.
func statusIs(want ...int) func(int, []byte) error {
	return func(status int, body []byte) error {
		for _, w := range want {
			if status == w {
				return nil
			}
		}
		return fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
	}
}

// PeerSystem is one replicated store under comparison: three processes on
// loopback with an HTTP API, and the requests that perform each operation
// on it.
type PeerSystem struct {
	Name   string
	URLs   []string
	leader int // the node every operation is sent to
	group  *procGroup
	client *http.Client
	ops    map[string]reqTemplate // by operation (PeerWrite, ...)
}

// Supports reports whether the system offers the operation.
func (s *PeerSystem) Supports(op string) bool {
	_, ok := s.ops[op]
	return ok
}

// CPU returns the CPU time the system's processes have used so far.
func (s *PeerSystem) CPU() time.Duration { return s.group.CPU() }

// Close stops the processes.
func (s *PeerSystem) Close() error {
	err := s.group.Close()
	s.client.CloseIdleConnections()
	return err
}

// do performs op on key through the system's leader.
func (s *PeerSystem) do(ctx context.Context, op, key string) error {
	t := s.ops[op]
	var body io.Reader
	if t.hasBody() {
		body = strings.NewReader(t.body[0] + key + t.body[1])
	}
	req, err := http.NewRequestWithContext(ctx, t.method, s.URLs[s.leader]+t.path[0]+key+t.path[1], body)
	if err != nil {
		return err
	}
	if t.ctype != "" {
		req.Header.Set("Content-Type", t.ctype)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := t.check(resp.StatusCode, data); err != nil {
		return fmt.Errorf("%s %s: %w", s.Name, op, err)
	}
	return nil
}

// Op returns op as a closed-loop operation over the keys of the state
// machines' key space.
func (s *PeerSystem) Op(op string) Op {
	return func(ctx context.Context, w, seq int) error {
		return s.do(ctx, op, peerKey(opKey(w, seq)))
	}
}

func peerKey(n uint64) string { return "k" + strconv.FormatUint(n%keySpace, 10) }

// preload writes every key of the key space once, so that reads find
// values in every system.
func (s *PeerSystem) preload(ctx context.Context) error {
	keys := make(chan uint64, keySpace)
	for k := range uint64(keySpace) {
		keys <- k
	}
	close(keys)
	r := RunN(ctx, 32, keySpace, func(ctx context.Context, _, _ int) error {
		return s.do(ctx, PeerWrite, peerKey(<-keys))
	})
	if r.Errors > 0 {
		return fmt.Errorf("bench: preload %s: %d of %d writes failed: %w", s.Name, r.Errors, keySpace, r.FirstErr)
	}
	return nil
}

var peerValue = strings.Repeat("v", peerValueSize)

// StartKVStorePeer starts the kvstore example (-profile lan) as a system
// under comparison; extra flags go to every process.
func StartKVStorePeer(ctx context.Context, bin, dir string, extra ...string) (*PeerSystem, error) {
	kv, err := StartKVStore(ctx, bin, dir, "lan", extra...)
	if err != nil {
		return nil, err
	}
	var leader int
	err = retryFor(ctx, 30*time.Second, func(ctx context.Context) error {
		leader, err = kv.Leader(ctx)
		return err
	})
	if err != nil {
		_ = kv.Close()
		return nil, err
	}
	read := func(level string) reqTemplate {
		return newTemplate(http.MethodGet, "", "/kv/"+keyMark+"?consistency="+level, "", statusIs(http.StatusOK, http.StatusNotFound))
	}
	return &PeerSystem{
		Name: "kvstore", URLs: kv.URLs, leader: leader, group: &kv.group, client: kv.client,
		ops: map[string]reqTemplate{
			PeerWrite:        newTemplate(http.MethodPut, "", "/kv/"+keyMark, peerValue, statusIs(http.StatusNoContent)),
			PeerStale:        read("stale"),
			PeerLinearizable: read("linearizable"),
		},
	}, nil
}

// StartHraftd starts three hraftd processes (github.com/otoolep/hraftd,
// the reference example of hashicorp/raft) from bin: the first bootstraps
// and leads, the other two join it. hraftd writes only on its leader and
// reads only its local copy, so it offers writes and stale reads.
func StartHraftd(ctx context.Context, bin, dir string) (*PeerSystem, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	s := &PeerSystem{
		Name: "hraftd", group: &procGroup{}, client: newHTTPClient(),
		ops: map[string]reqTemplate{
			PeerWrite: newTemplate(http.MethodPost, "application/json", "/key", `{"`+keyMark+`":"`+peerValue+`"}`, statusIs(http.StatusOK)),
			PeerStale: newTemplate(http.MethodGet, "", "/key/"+keyMark, "", statusIs(http.StatusOK)),
		},
	}
	for i := range 3 {
		haddr, raddr := loopback(ports[i]), loopback(ports[3+i])
		s.URLs = append(s.URLs, "http://"+haddr)
		args := []string{"-id", fmt.Sprintf("n%d", i+1), "-haddr", haddr, "-raddr", raddr}
		if i > 0 {
			args = append(args, "-join", loopback(ports[0]))
		}
		args = append(args, filepath.Join(dir, fmt.Sprintf("hraftd-n%d", i+1)))
		if err := s.group.start(bin, args, filepath.Join(dir, fmt.Sprintf("hraftd-n%d.log", i+1))); err != nil {
			_ = s.Close()
			return nil, err
		}
		// The first node leads with i followers before the next joins it.
		if err := waitHTTP(ctx, s.group, s.URLs[:1], func(ctx context.Context, u string) error {
			return hraftdFollowers(ctx, s.client, u, i)
		}); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// hraftdFollowers checks that the node at u leads with want followers.
func hraftdFollowers(ctx context.Context, client *http.Client, u string, want int) error {
	data, err := doWith(ctx, client, http.MethodGet, u+"/status", nil, http.StatusOK)
	if err != nil {
		return err
	}
	var st struct {
		Me        struct{ ID string } `json:"me"`
		Leader    struct{ ID string } `json:"leader"`
		Followers []struct{ ID string }
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	if st.Leader.ID == "" || st.Leader.ID != st.Me.ID || len(st.Followers) != want {
		return fmt.Errorf("hraftd: leader %q, %d followers, want this node leading %d", st.Leader.ID, len(st.Followers), want)
	}
	return nil
}

// StartRqlite starts three rqlited processes (github.com/rqlite/rqlite)
// from bin, bootstrapped together (-bootstrap-expect 3), and creates a
// two-column table to use as a key-value store. rqlite forwards writes to
// its leader and offers reads at level none (the local copy) and
// linearizable.
func StartRqlite(ctx context.Context, bin, dir string) (*PeerSystem, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	rqliteOK := func(status int, body []byte) error {
		if status != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
			return fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
		}
		return nil
	}
	query := func(level string) reqTemplate {
		return newTemplate(http.MethodGet, "", "/db/query?level="+level+"&q=SELECT%20v%20FROM%20kv%20WHERE%20k%3D%27"+keyMark+"%27", "", rqliteOK)
	}
	s := &PeerSystem{
		Name: "rqlite", group: &procGroup{}, client: newHTTPClient(),
		ops: map[string]reqTemplate{
			PeerWrite:        newTemplate(http.MethodPost, "application/json", "/db/execute", `[["INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)","`+keyMark+`","`+peerValue+`"]]`, rqliteOK),
			PeerStale:        query("none"),
			PeerLinearizable: query("linearizable"),
		},
	}
	join := strings.Join([]string{loopback(ports[3]), loopback(ports[4]), loopback(ports[5])}, ",")
	for i := range 3 {
		haddr := loopback(ports[i])
		s.URLs = append(s.URLs, "http://"+haddr)
		args := []string{"-node-id", fmt.Sprintf("n%d", i+1), "-http-addr", haddr, "-raft-addr", loopback(ports[3+i]),
			"-bootstrap-expect", "3", "-join", join, filepath.Join(dir, fmt.Sprintf("rqlite-n%d", i+1))}
		if err := s.group.start(bin, args, filepath.Join(dir, fmt.Sprintf("rqlite-n%d.log", i+1))); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	if err := waitHTTP(ctx, s.group, s.URLs, func(ctx context.Context, u string) error {
		_, err := doWith(ctx, s.client, http.MethodGet, u+"/readyz", nil, http.StatusOK)
		return err
	}); err != nil {
		_ = s.Close()
		return nil, err
	}
	err = retryFor(ctx, 30*time.Second, func(ctx context.Context) error {
		s.leader, err = rqliteLeader(ctx, s.client, s.URLs)
		return err
	})
	if err == nil {
		_, err = doWith(ctx, s.client, http.MethodPost, s.URLs[s.leader]+"/db/execute",
			[]byte(`["CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)"]`), http.StatusOK)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// rqliteLeader returns the index of the node whose /status says it leads.
func rqliteLeader(ctx context.Context, client *http.Client, urls []string) (int, error) {
	for i, u := range urls {
		data, err := doWith(ctx, client, http.MethodGet, u+"/status", nil, http.StatusOK)
		if err != nil {
			return -1, err
		}
		var st struct {
			Store struct {
				Raft struct {
					State string `json:"state"`
				} `json:"raft"`
			} `json:"store"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return -1, err
		}
		if st.Store.Raft.State == "Leader" {
			return i, nil
		}
	}
	return -1, errors.New("bench: no rqlite node leads")
}

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// retryFor calls f until it succeeds or d has passed, and returns its last
// error.
func retryFor(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	if err := poll(tctx, func() bool { last = f(tctx); return last == nil }); err != nil {
		return errors.Join(err, last)
	}
	return nil
}
