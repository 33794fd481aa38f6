package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// Handler serves one request. ctx is cancelled when the caller's timeout
// (sent with the request) expires, the connection closes or the server
// closes; a handler must return soon after. A returned *RemoteError (see
// [Errorf]) reaches the caller with its code; an error matching
// context.DeadlineExceeded reaches it with [CodeDeadlineExceeded]; any other
// error reaches it with [CodeInternal]. A panic is recovered, logged and
// reported as CodeInternal.
type Handler func(ctx context.Context, method uint8, req []byte) ([]byte, error)

// Server serves pipelined requests on the connections of a listener. Each
// connection has one reader and handlers running concurrently (at most
// MaxInFlight per connection), each writing its own reply; replies go back
// in completion order, matched to requests by id.
type Server struct {
	h    Handler
	cfg  ServerConfig
	log  *slog.Logger
	loop *acceptLoop

	ctx    context.Context // parent of every connection; cancelled by Close
	cancel context.CancelFunc

	mu    sync.Mutex // guards conns
	conns map[*serverConn]struct{}

	wg        sync.WaitGroup // connection goroutines
	closeOnce sync.Once
	closeErr  error
}

// NewServer returns a server for ln calling h, or an error when ln or h is
// nil or cfg is invalid (see [ServerConfig.Validate]); ln then stays the
// caller's to close. Nothing runs until Serve.
func NewServer(ln net.Listener, h Handler, cfg ServerConfig) (*Server, error) {
	switch {
	case ln == nil:
		return nil, errors.New("rpc: NewServer: listener is nil")
	case h == nil:
		return nil, errors.New("rpc: NewServer: handler is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		h:      h,
		cfg:    cfg.withDefaults(),
		log:    logadapt.OrDiscard(cfg.Logger),
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*serverConn]struct{}),
	}
	s.loop = newAcceptLoop("server", ln, s.log, s.serveConn)
	return s, nil
}

// Serve accepts and serves connections until Close is called (it then
// returns nil) or the listener fails for good (it returns that error).
func (s *Server) Serve() error { return s.loop.serve() }

// Close stops accepting, closes every connection, cancels the handlers'
// contexts and waits for every goroutine the server started, handlers
// included, and for Serve to return. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.loop.close() // no connection is accepted after it
		s.mu.Lock()
		conns := make([]*serverConn, 0, len(s.conns))
		for sc := range s.conns {
			conns = append(conns, sc)
		}
		s.mu.Unlock()

		s.cancel()
		for _, sc := range conns {
			sc.close()
		}
		s.wg.Wait()
	})
	return s.closeErr
}

// serveConn registers an accepted connection and serves it on its own
// goroutines.
func (s *Server) serveConn(nc net.Conn) {
	sc := newServerConn(s, nc)
	s.mu.Lock()
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go sc.serve()
}

func (s *Server) untrack(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
}
