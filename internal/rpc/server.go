package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

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
	ln     net.Listener
	h      Handler
	cfg    ServerConfig
	log    *slog.Logger
	cfgErr error

	ctx    context.Context // parent of every connection; cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex // guards the fields below
	conns     map[*serverConn]struct{}
	closed    bool
	serving   bool
	serveDone chan struct{}

	wg        sync.WaitGroup // connection goroutines
	closeOnce sync.Once
	closeErr  error
}

// NewServer returns a server for ln calling h. Nothing runs until Serve.
// An invalid cfg (see [ServerConfig.Validate]) or nil ln/h is reported by
// Serve.
func NewServer(ln net.Listener, h Handler, cfg ServerConfig) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		ln:     ln,
		h:      h,
		cfg:    cfg.withDefaults(),
		log:    logadapt.OrDiscard(cfg.Logger),
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*serverConn]struct{}),
	}
	switch {
	case ln == nil:
		s.cfgErr = errors.New("rpc: NewServer: listener is nil")
	case h == nil:
		s.cfgErr = errors.New("rpc: NewServer: handler is nil")
	default:
		s.cfgErr = cfg.Validate()
	}
	return s
}

// Serve accepts and serves connections until Close is called (it then
// returns nil) or the listener fails for good (it returns that error).
func (s *Server) Serve() error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("rpc: Server.Serve called twice")
	}
	s.serving = true
	s.serveDone = make(chan struct{})
	defer close(s.serveDone)
	s.mu.Unlock()

	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if !isTemporary(err) {
				return fmt.Errorf("rpc: server accept: %w", err)
			}
			backoff = nextBackoff(backoff)
			s.log.Warn("rpc: server accept failed, retrying", "err", err, "backoff", backoff)
			if !s.sleep(backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		if sc := s.track(nc); sc != nil {
			go sc.serve()
		}
	}
}

// Close stops accepting, closes every connection, cancels the handlers'
// contexts and waits for every goroutine the server started, handlers
// included, and for Serve to return. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*serverConn, 0, len(s.conns))
		for sc := range s.conns {
			conns = append(conns, sc)
		}
		serveDone := s.serveDone
		s.mu.Unlock()

		s.cancel()
		if s.ln != nil {
			if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.closeErr = err
			}
		}
		for _, sc := range conns {
			sc.close()
		}
		s.wg.Wait()
		if serveDone != nil {
			<-serveDone
		}
	})
	return s.closeErr
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// track registers a new connection, or closes it when the server is closed.
func (s *Server) track(nc net.Conn) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = nc.Close()
		return nil
	}
	sc := newServerConn(s, nc)
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	return sc
}

func (s *Server) untrack(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
}
