package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// shutdownTimeout bounds draining HTTP requests and leaving the cluster.
const shutdownTimeout = 10 * time.Second

// server is one kvstore node: the cluster node and its HTTP server.
type server struct {
	opts   options
	logger *slog.Logger
	node   *cluster.Node
	ln     net.Listener
	http   *http.Server
}

// newServer binds the HTTP port, then starts the cluster node. On error
// nothing is left open.
func newServer(ctx context.Context, o options, logOut io.Writer) (*server, error) {
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: o.logLevel}))
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return nil, fmt.Errorf("-http: %w", err)
	}
	node, err := startNode(ctx, o, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &server{opts: o, logger: logger, node: node, ln: ln}
	a := &api{
		node: clusterBackend{node}, httpAddr: ln.Addr().String(),
		maxKey: o.maxKeySize, maxValue: o.maxValueSize, timeout: o.requestTimeout, logger: logger,
	}
	s.http = newHTTPServer(a.handler(), o, logger)
	return s, nil
}

// security loads the TLS files and the gossip key named by the flags.
func security(o options) (consensus.TLSConfig, [][]byte, error) {
	if o.tlsCA == "" {
		return consensus.TLSConfig{}, nil, nil
	}
	tlsConf, err := consensus.MutualTLSFiles(o.tlsCA, o.tlsCert, o.tlsKey)
	if err != nil {
		return consensus.TLSConfig{}, nil, err
	}
	b, err := os.ReadFile(o.gossipKeyFile)
	if err != nil {
		return consensus.TLSConfig{}, nil, fmt.Errorf("-gossip-key-file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return consensus.TLSConfig{}, nil, fmt.Errorf("-gossip-key-file: %s must hold a base64 key of 16, 24 or 32 bytes", o.gossipKeyFile)
	}
	return tlsConf, [][]byte{key}, nil
}

// newHTTPServer returns the API's server with its limits.
func newHTTPServer(h http.Handler, o options, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      o.requestTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    headerLimit(o.maxKeySize),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// headerLimit bounds the request line and headers: room for the longest key
// percent-encoded, the query and ordinary headers, whatever the value size.
// Large compare-and-swap values travel in the body (?prev-length=N), so a
// connection sending slow or huge headers holds at most this much.
func headerLimit(maxKey int) int {
	return 3*maxKey + 32<<10
}

// startNode builds and starts the cluster node with the kvstore's state
// machine.
func startNode(ctx context.Context, o options, logger *slog.Logger) (*cluster.Node, error) {
	tuning := consensus.Tuning{
		// A compare-and-swap carries the key, the old and the new value.
		MaxMessageSize:    max(consensus.DefaultMaxMessageSize, 2*o.maxValueSize+o.maxKeySize+1<<10),
		SnapshotThreshold: o.snapThreshold, // zero: the default
		SnapshotInterval:  o.snapInterval,
	}
	tlsConf, keys, err := security(o)
	if err != nil {
		return nil, err
	}
	node, err := cluster.New(cluster.Config{
		Keys:     keys,
		Name:     o.name,
		BindAddr: o.gossipAddr,
		Seeds:    o.join,
		Profile:  o.profile,
		Consensus: &cluster.ConsensusConfig{
			BindAddr:        o.raftAddr,
			DataDir:         o.dataDir,
			StateMachine:    newStore(tuning.MaxMessageSize),
			BootstrapExpect: o.bootstrapExpect,
			TLS:             tlsConf,
		},
		Logger: logger,
		Tuning: cluster.Tuning{Consensus: tuning},
	})
	if err != nil {
		return nil, err
	}
	if err := node.Start(ctx); err != nil {
		node.Close()
		return nil, err
	}
	return node, nil
}

func (s *server) httpAddr() string { return s.ln.Addr().String() }

// serve answers HTTP requests until ctx is cancelled, then drains them and
// stops the node: Close keeps its Raft seat, Leave (-leave-on-exit) gives it
// up.
func (s *server) serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr, s.http.Shutdown(sctx)}
	if serveErr == nil {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if s.opts.leaveOnExit {
		s.logger.Info("leaving the cluster")
		errs = append(errs, s.node.Leave(sctx))
	} else {
		errs = append(errs, s.node.Close())
	}
	return errors.Join(errs...)
}
