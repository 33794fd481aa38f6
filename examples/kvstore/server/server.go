package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
	ops    *operator
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
	if errors.Is(err, consensus.ErrLogStoreMismatch) {
		err = o.logStores.mismatch(o, err)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &server{opts: o, logger: logger, node: node, ln: ln}
	a := &api{
		node:   node,
		maxKey: o.maxKeySize, maxValue: o.maxValueSize, timeout: o.requestTimeout, logger: logger,
		maxMessage: messageSize(o), maxBatchOps: o.maxBatchOps,
	}
	h, ops, err := withOperator(a.mux(), node, o.pprof)
	if err != nil {
		node.Close()
		ln.Close()
		return nil, err
	}
	s.ops = ops
	s.http = newHTTPServer(a.fastKeys(h), o, logger)
	return s, nil
}

// newHTTPServer returns the API's server with its limits. It speaks
// HTTP/1.1, HTTP/2 over TLS, and with -http-h2c HTTP/2 without TLS to
// clients that start with the HTTP/2 preface (prior knowledge: no Upgrade
// round trip). An HTTP/2 client multiplexes its requests on one connection,
// so the server reads and writes many of them per system call.
func newHTTPServer(h http.Handler, o options, logger *slog.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(o.h2c)
	return &http.Server{
		Protocols:         &protocols,
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
// machine. An outage recovery (-recover, -recover-self) runs before it
// starts, a restore from a backup (-restore) once it leads.
func startNode(ctx context.Context, o options, logger *slog.Logger) (*cluster.Node, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mtls, err := o.tls.mutualTLS()
	if err != nil {
		return nil, fmt.Errorf("-tls: %w", err)
	}
	cfg := nodeConfig(o, logger, mtls)
	fresh, err := o.ops.prepare(o, cfg, logger)
	if err != nil {
		return nil, err
	}
	node, err := cluster.New(nodeConfig(o, logger, mtls)) // a fresh state machine
	if err != nil {
		return nil, err
	}
	if err := node.Start(ctx); err != nil {
		node.Close()
		return nil, err
	}
	if err := o.ops.restoreFresh(ctx, o, node, fresh, logger); err != nil {
		node.Close()
		return nil, err
	}
	return node, nil
}

// messageSize is the MaxMessageSize: the largest command, query or result.
// A compare-and-swap carries the key, the old and the new value.
func messageSize(o options) int {
	return max(consensus.DefaultMaxMessageSize, 2*o.maxValueSize+o.maxKeySize+1<<10)
}

// nodeConfig is the cluster configuration of the node o describes, with a
// new, empty state machine and the mutual TLS mtls.
func nodeConfig(o options, logger *slog.Logger, mtls consensus.TLSConfig) cluster.Config {
	tuning := consensus.Tuning{
		MaxMessageSize:    messageSize(o),
		SnapshotThreshold: o.snapThreshold, // zero: the default
		SnapshotInterval:  o.snapInterval,
	}
	var keys [][]byte
	if o.gossipKey != nil {
		keys = [][]byte{o.gossipKey}
	}
	return cluster.Config{
		Name:          o.name,
		BindAddr:      o.gossipAddr,
		AdvertiseAddr: o.gossipAdvertise(),
		Seeds:         o.join,
		Profile:       o.profile,
		Keys:          keys,
		Label:         o.clusterLabel,
		Consensus: &cluster.ConsensusConfig{
			BindAddr:        o.raftAddr,
			AdvertiseAddr:   o.raftAdvertise(),
			DataDir:         o.dataDir,
			StateMachine:    newStore(tuning.MaxMessageSize),
			BootstrapExpect: o.bootstrapExpect,
			TLS:             mtls,
			LogStore:        o.logStoreConfig(logger),
		},
		Logger: logger,
		Tuning: cluster.Tuning{Consensus: tuning},
	}
}

func (s *server) httpAddr() string { return s.ln.Addr().String() }

// serve answers HTTP requests until ctx is cancelled, then drains them and
// stops the node: Close keeps its Raft seat, Leave (-leave-on-exit) gives it
// up.
func (s *server) serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.opts.httpTLS.enabled() {
			errc <- s.http.ServeTLS(s.ln, s.opts.httpTLS.cert, s.opts.httpTLS.key)
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr, s.http.Shutdown(sctx)}
	defer s.ops.close()
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
