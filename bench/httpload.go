package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/conclave-go/conclave/consensus"
)

// KVStore is three processes of the kvstore example on loopback, each with
// its data dir under a temporary directory.
type KVStore struct {
	URLs   []string // base URL of each node's HTTP API
	group  procGroup
	client *http.Client // HTTP/1.1, one connection per concurrent request
	h2c    *http.Client // HTTP/2 without TLS: requests multiplexed on shared connections
}

// StartKVStore starts three kvstore processes from the binary bin with the
// given profile ("lan", "local") and any extra flags, and waits until each
// answers /readyz. Each process logs errors to dir/kv-nI.log.
func StartKVStore(ctx context.Context, bin, dir, profile string, extra ...string) (*KVStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(9)
	if err != nil {
		return nil, err
	}
	join := strings.Join([]string{loopback(ports[0]), loopback(ports[1]), loopback(ports[2])}, ",")
	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	k := &KVStore{
		client: newHTTPClient(),
		h2c:    &http.Client{Transport: &http.Transport{Protocols: &h2, IdleConnTimeout: time.Minute}},
	}
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		args := append([]string{"-name", name,
			"-gossip", loopback(ports[i]), "-raft", loopback(ports[3+i]), "-http", loopback(ports[6+i]),
			"-join", join, "-bootstrap-expect", "3", "-data", filepath.Join(dir, "kv-"+name),
			"-profile", profile, "-log-level", "error"}, extra...)
		if err := k.group.start(bin, args, filepath.Join(dir, "kv-"+name+".log")); err != nil {
			_ = k.Close()
			return nil, err
		}
		k.URLs = append(k.URLs, "http://"+loopback(ports[6+i]))
	}
	if err := waitHTTP(ctx, &k.group, k.URLs, func(ctx context.Context, u string) error { return k.get(ctx, u+"/readyz") }); err != nil {
		_ = k.Close()
		return nil, err
	}
	return k, nil
}

// newHTTPClient returns an HTTP/1.1 client that keeps one connection per
// concurrent request.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute,
	}}
}

// waitHTTP waits up to a minute until ready succeeds for every URL, or one
// of the group's processes exits.
func waitHTTP(ctx context.Context, g *procGroup, urls []string, ready func(context.Context, string) error) error {
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, u := range urls {
		var last error
		err := poll(tctx, func() bool {
			if last = g.alive(); last != nil {
				cancel()
				return false
			}
			last = ready(tctx, u)
			return last == nil
		})
		if err != nil {
			return fmt.Errorf("bench: %s not ready: %w", u, errors.Join(err, last))
		}
	}
	return nil
}

// freePorts returns n ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (k *KVStore) get(ctx context.Context, url string) error {
	_, err := k.do(ctx, http.MethodGet, url, nil, http.StatusOK)
	return err
}

// do sends one request over HTTP/1.1 and reads the whole response.
func (k *KVStore) do(ctx context.Context, method, url string, body []byte, want ...int) ([]byte, error) {
	return doWith(ctx, k.client, method, url, body, want...)
}

// doWith sends one request with client and reads the whole response.
func doWith(ctx context.Context, client *http.Client, method, url string, body []byte, want ...int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(want, resp.StatusCode) {
		return nil, fmt.Errorf("bench: %s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(data))
	}
	return data, nil
}

// Leader returns the index of the node whose /cluster/leader says it leads.
func (k *KVStore) Leader(ctx context.Context) (int, error) {
	for i, u := range k.URLs {
		data, err := k.do(ctx, http.MethodGet, u+"/cluster/leader", nil, http.StatusOK)
		if err != nil {
			return -1, err
		}
		var st struct {
			IsLeader bool `json:"is_leader"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return -1, err
		}
		if st.IsLeader {
			return i, nil
		}
	}
	return -1, errors.New("bench: no kvstore node leads")
}

// CPU returns the CPU time the three processes have used so far.
func (k *KVStore) CPU() time.Duration { return k.group.CPU() }

// WriteOp returns an operation that PUTs a value of size bytes through node
// i over HTTP/1.1.
func (k *KVStore) WriteOp(i, size int) Op { return k.writeOp(k.client, i, size) }

// H2CWriteOp is WriteOp over HTTP/2 without TLS.
func (k *KVStore) H2CWriteOp(i, size int) Op { return k.writeOp(k.h2c, i, size) }

func (k *KVStore) writeOp(client *http.Client, i, size int) Op {
	val := bytes.Repeat([]byte{'v'}, size)
	return func(ctx context.Context, w, seq int) error {
		url := fmt.Sprintf("%s/kv/k%d", k.URLs[i], opKey(w, seq)%keySpace)
		_, err := doWith(ctx, client, http.MethodPut, url, val, http.StatusNoContent)
		return err
	}
}

// ReadOp returns an operation that GETs a key through node i at level over
// HTTP/1.1. A missing key (404) counts as an answer.
func (k *KVStore) ReadOp(i int, level consensus.ReadLevel) Op {
	return k.readOp(k.client, i, level)
}

// H2CReadOp is ReadOp over HTTP/2 without TLS.
func (k *KVStore) H2CReadOp(i int, level consensus.ReadLevel) Op {
	return k.readOp(k.h2c, i, level)
}

func (k *KVStore) readOp(client *http.Client, i int, level consensus.ReadLevel) Op {
	return func(ctx context.Context, w, seq int) error {
		url := fmt.Sprintf("%s/kv/k%d?consistency=%s", k.URLs[i], opKey(w, seq)%keySpace, level)
		_, err := doWith(ctx, client, http.MethodGet, url, nil, http.StatusOK, http.StatusNotFound)
		return err
	}
}

// BatchOp returns an operation that POSTs a batch of n puts of size bytes
// each through node i over HTTP/1.1. Every put must answer 204.
func (k *KVStore) BatchOp(i, n, size int) Op {
	val := strings.Repeat("v", size)
	return func(ctx context.Context, w, seq int) error {
		var body bytes.Buffer
		body.WriteString(`{"ops":[`)
		for j := range n {
			if j > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"op":"put","key":"k%d","value":"%s"}`, opKey(w, seq*n+j)%keySpace, val)
		}
		body.WriteString(`]}`)
		data, err := k.do(ctx, http.MethodPost, k.URLs[i]+"/batch", body.Bytes(), http.StatusOK)
		if err != nil {
			return err
		}
		var res struct {
			Results []struct {
				Status int `json:"status"`
			} `json:"results"`
		}
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("bench: batch response: %w", err)
		}
		if len(res.Results) != n {
			return fmt.Errorf("bench: batch of %d answered %d results", n, len(res.Results))
		}
		for j, r := range res.Results {
			if r.Status != http.StatusNoContent {
				return fmt.Errorf("bench: batch op %d: status %d", j, r.Status)
			}
		}
		return nil
	}
}

// Close stops the processes (SIGINT, then SIGKILL after 10 s).
func (k *KVStore) Close() error {
	err := k.group.Close()
	k.client.CloseIdleConnections()
	k.h2c.CloseIdleConnections()
	return err
}

// kvCommandSize approximates the size of the kvstore's put command for a
// short key and a 64-byte value, so that the in-process comparison
// replicates as many bytes.
const kvCommandSize = 72

// HTTPComparison measures the kvstore example over HTTP next to Conclave's
// in-process Apply and Query on a cluster of the same shape: each HTTP row
// is compared with the in-process row of the same node role, caller count
// and level, measured in interleaved slices.
func HTTPComparison(ctx context.Context, kv *KVStore, con *Conclave, clients []int, rounds int, slice time.Duration) ([]Row, error) {
	apply := func(i int) Op {
		n := con.Nodes[i]
		return func(ctx context.Context, w, seq int) error {
			_, err := n.Apply(ctx, Command(opKey(w, seq), kvCommandSize))
			return err
		}
	}
	query := func(i int, level consensus.ReadLevel) Op {
		n := con.Nodes[i]
		return func(ctx context.Context, w, seq int) error {
			_, err := n.Query(ctx, level, Query(opKey(w, seq)))
			return err
		}
	}
	// roles finds both groups' leaders and a follower of each, waiting up
	// to 30 s for a leader change to settle.
	roles := func() (kl, kf, cl, cf int, err error) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err = poll(wctx, func() bool {
			var lerr error
			kl, lerr = kv.Leader(wctx)
			cl, cf = con.Leader(), con.Follower()
			return lerr == nil && cl >= 0 && cf >= 0
		})
		if err != nil {
			return 0, 0, 0, 0, errNoLeader
		}
		return kl, (kl + 1) % len(kv.URLs), cl, cf, nil
	}
	var rows []Row
	add := func(section, level string, c int, targets func(kl, kf, cl, cf int) []Target) error {
		ts, res, err := interleave(ctx, c, rounds, slice, func() ([]Target, error) {
			kl, kf, cl, cf, err := roles()
			if err != nil {
				return nil, err
			}
			return targets(kl, kf, cl, cf), nil
		})
		if err != nil {
			return err
		}
		rows = append(rows, pairedRows(section, level, c, ts, res)...)
		return nil
	}
	for _, c := range clients {
		err := add("http write", "", c, func(kl, kf, cl, cf int) []Target {
			return []Target{
				{Name: "in-process leader", Op: apply(cl)}, {Name: "http leader", Op: kv.WriteOp(kl, 64), CPU: kv.CPU},
				{Name: "in-process follower", Op: apply(cf)}, {Name: "http follower", Op: kv.WriteOp(kf, 64), CPU: kv.CPU},
			}
		})
		if err != nil {
			return rows, err
		}
	}
	for _, level := range []consensus.ReadLevel{consensus.Stale, consensus.Leader, consensus.Linearizable} {
		for _, c := range clients {
			err := add("http read", level.String(), c, func(kl, kf, cl, cf int) []Target {
				return []Target{
					{Name: "in-process leader", Op: query(cl, level)}, {Name: "http leader", Op: kv.ReadOp(kl, level), CPU: kv.CPU},
					{Name: "in-process follower", Op: query(cf, level)}, {Name: "http follower", Op: kv.ReadOp(kf, level), CPU: kv.CPU},
				}
			})
			if err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

// HTTPProtocols measures the kvstore's leader over HTTP/1.1 against HTTP/2
// without TLS (h2c: every client's requests multiplexed on shared
// connections), for writes and stale reads, and single PUTs against POST
// /batch requests of each size in batches (64-byte values), in interleaved
// slices. Each second row of a pair has the first as its baseline; batch
// rows count operations, not requests. CPU is the kvstore processes' only.
func HTTPProtocols(ctx context.Context, kv *KVStore, clients, batches []int, rounds int, slice time.Duration) ([]Row, error) {
	leader := func() (int, error) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		l := -1
		err := poll(wctx, func() bool {
			var err error
			l, err = kv.Leader(wctx)
			return err == nil
		})
		if err != nil {
			return -1, errNoLeader
		}
		return l, nil
	}
	var rows []Row
	add := func(section, level string, c int, targets func(l int) []Target) error {
		ts, res, err := interleave(ctx, c, rounds, slice, func() ([]Target, error) {
			l, err := leader()
			if err != nil {
				return nil, err
			}
			return serverOnly(targets(l)), nil
		})
		if err != nil {
			return err
		}
		for i := range ts {
			row := Row{Section: section, Name: ts[i].Name, Callers: c, Level: level, Result: res[i]}
			if i > 0 {
				row.Base = &res[0]
			}
			rows = append(rows, row)
		}
		return nil
	}
	for _, c := range clients {
		err := add("http h2c", "write", c, func(l int) []Target {
			return []Target{{Name: "http/1.1 leader", Op: kv.WriteOp(l, 64), CPU: kv.CPU}, {Name: "h2c leader", Op: kv.H2CWriteOp(l, 64), CPU: kv.CPU}}
		})
		if err != nil {
			return rows, err
		}
		err = add("http h2c", consensus.Stale.String(), c, func(l int) []Target {
			return []Target{{Name: "http/1.1 leader", Op: kv.ReadOp(l, consensus.Stale), CPU: kv.CPU}, {Name: "h2c leader", Op: kv.H2CReadOp(l, consensus.Stale), CPU: kv.CPU}}
		})
		if err != nil {
			return rows, err
		}
	}
	if len(batches) == 0 {
		return rows, nil
	}
	for _, c := range clients {
		err := add("http batch", "", c, func(l int) []Target {
			ts := []Target{{Name: "put leader", Op: kv.WriteOp(l, 64), CPU: kv.CPU}}
			for _, n := range batches {
				ts = append(ts, Target{Name: fmt.Sprintf("batch of %d leader", n), Op: kv.BatchOp(l, n, 64), CPU: kv.CPU, Batch: n})
			}
			return ts
		})
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// serverOnly marks ts to count the kvstore processes' CPU only.
func serverOnly(ts []Target) []Target {
	for i := range ts {
		ts[i].ServerOnly = true
	}
	return ts
}

// HTTPBeforeAfter compares two builds of the kvstore, each its own cluster
// of three processes, request for request: PUTs and GETs at every level
// through each one's leader and a follower, in interleaved slices, so that
// a change in the machine's load affects both alike. Each after row has its
// before row as baseline. CPU is the kvstore processes' only: the load
// generator is the same for both.
func HTTPBeforeAfter(ctx context.Context, before, after *KVStore, clients []int, rounds int, slice time.Duration) ([]Row, error) {
	roles := func() (bl, al int, err error) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err = poll(wctx, func() bool {
			var e1, e2 error
			bl, e1 = before.Leader(wctx)
			al, e2 = after.Leader(wctx)
			return e1 == nil && e2 == nil
		})
		if err != nil {
			return 0, 0, errNoLeader
		}
		return bl, al, nil
	}
	var rows []Row
	add := func(section, level string, c int, op func(k *KVStore, node int) Op) error {
		ts, res, err := interleave(ctx, c, rounds, slice, func() ([]Target, error) {
			bl, al, err := roles()
			if err != nil {
				return nil, err
			}
			bf, af := (bl+1)%len(before.URLs), (al+1)%len(after.URLs)
			return serverOnly([]Target{
				{Name: "before leader", Op: op(before, bl), CPU: before.CPU}, {Name: "after leader", Op: op(after, al), CPU: after.CPU},
				{Name: "before follower", Op: op(before, bf), CPU: before.CPU}, {Name: "after follower", Op: op(after, af), CPU: after.CPU},
			}), nil
		})
		if err != nil {
			return err
		}
		rows = append(rows, pairedRows(section, level, c, ts, res)...)
		return nil
	}
	for _, c := range clients {
		if err := add("http write", "", c, func(k *KVStore, n int) Op { return k.WriteOp(n, 64) }); err != nil {
			return rows, err
		}
	}
	for _, level := range []consensus.ReadLevel{consensus.Stale, consensus.Leader, consensus.Linearizable} {
		for _, c := range clients {
			if err := add("http read", level.String(), c, func(k *KVStore, n int) Op { return k.ReadOp(n, level) }); err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

// pairedRows turns results of targets measured in pairs (a baseline, then
// its counterpart) into rows, each counterpart against its baseline.
func pairedRows(section, level string, callers int, ts []Target, res []Result) []Row {
	var rows []Row
	for i := 0; i+1 < len(ts); i += 2 {
		rows = append(rows,
			Row{Section: section, Name: ts[i].Name, Callers: callers, Level: level, Result: res[i]},
			Row{Section: section, Name: ts[i+1].Name, Callers: callers, Level: level, Result: res[i+1], Base: &res[i]})
	}
	return rows
}
