package faultnet

import (
	"log/slog"
	"math/rand/v2"
	"sync"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// Network is the fabric shared by every node of one test cluster. Each node
// opens its sockets through its own [Host]; the Network knows which host owns
// which address and applies the faults configured on the link between two
// hosts. All methods are safe for concurrent use.
type Network struct {
	cfg    Config
	logger *slog.Logger
	sched  *scheduler

	mu       sync.Mutex // guards the fields below; a leaf lock: nothing else is locked while it is held
	rng      *rand.Rand
	faults   faults
	stats    map[Link]*Stats
	hosts    map[string]*Host
	registry registry
	watch    chan struct{} // closed and replaced on every fault change
	closed   bool

	closeOnce sync.Once
}

// New returns a Network whose loss and jitter decisions are drawn from seed.
// A nil logger discards. It is [NewWithConfig] with [DefaultConfig] and these
// two fields, which cannot fail.
func New(seed int64, logger *slog.Logger) *Network {
	cfg := DefaultConfig()
	cfg.Seed = seed
	cfg.Logger = logger
	return newNetwork(cfg)
}

// NewWithConfig returns a Network configured by cfg, or an error naming the
// invalid field.
func NewWithConfig(cfg Config) (*Network, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newNetwork(cfg.withDefaults()), nil
}

func newNetwork(cfg Config) *Network {
	n := &Network{
		cfg:      cfg,
		logger:   logadapt.OrDiscard(cfg.Logger).With("component", "faultnet"),
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0)),
		faults:   newFaults(),
		stats:    make(map[Link]*Stats),
		hosts:    make(map[string]*Host),
		registry: make(registry),
		watch:    make(chan struct{}),
	}
	n.sched = newScheduler(n)
	return n
}

// Host returns the node called name, creating it on first use; later calls
// with the same name return the same *Host. The host implements
// netx.Network. The empty name is the outside world: its addresses are not
// registered and its traffic is never subject to faults.
func (n *Network) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.hosts[name]
	if !ok {
		h = newHost(n, name)
		n.hosts[name] = h
	}
	return h
}

// Close kills every host (closing every socket opened through the Network),
// drops the traffic still queued, and waits until every goroutine the Network
// started has exited. Later Listen, ListenPacket and Dial calls return
// [ErrClosed]. Close is idempotent and always returns nil.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		hosts := make([]*Host, 0, len(n.hosts))
		for _, h := range n.hosts {
			hosts = append(hosts, h)
		}
		n.bumpLocked()
		n.mu.Unlock()
		for _, h := range hosts {
			h.kill()
		}
		n.sched.close()
		n.logger.Info("network closed")
	})
	return nil
}

// isClosed reports whether Close has been called.
func (n *Network) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// bumpLocked wakes everything that waits for a fault change. n.mu is held.
func (n *Network) bumpLocked() {
	close(n.watch)
	n.watch = make(chan struct{})
}

// watchChan returns a channel closed at the next fault change.
func (n *Network) watchChan() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.watch
}
