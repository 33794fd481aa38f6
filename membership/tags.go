package membership

import (
	"errors"
	"fmt"
	"maps"
	"sync"
)

// localMeta holds the local node's tags and their encoding.
type localMeta struct {
	cfg Config // Role and RPCAddr

	mu      sync.Mutex // guards tags, system, leaving, encoded
	tags    map[string]string
	system  map[string]string
	leaving bool
	encoded []byte
}

func newLocalMeta(cfg Config) (*localMeta, error) {
	l := &localMeta{cfg: cfg}
	if err := l.set(cfg.Tags, cfg.SystemTags); err != nil {
		return nil, err
	}
	return l, nil
}

// set replaces both tag sets if they fit; it keeps copies.
func (l *localMeta) set(tags, system map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.setLocked(tags, system, l.leaving)
}

func (l *localMeta) setLocked(tags, system map[string]string, leaving bool) error {
	nm := l.cfg.meta(tags, system)
	nm.Leaving = leaving
	b, err := nm.encode()
	if err != nil {
		return err
	}
	l.tags, l.system, l.leaving, l.encoded = maps.Clone(tags), maps.Clone(system), leaving, b
	return nil
}

// update replaces the user tags (system=false) or the system tags.
func (l *localMeta) update(tags map[string]string, system bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if system {
		return l.setLocked(l.tags, tags, l.leaving)
	}
	return l.setLocked(tags, l.system, l.leaving)
}

// markLeaving sets the leaving flag.
func (l *localMeta) markLeaving() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.setLocked(l.tags, l.system, true)
}

func (l *localMeta) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.encoded
}

func (l *localMeta) current() nodeMeta {
	l.mu.Lock()
	defer l.mu.Unlock()
	nm := l.cfg.meta(l.tags, l.system)
	nm.Leaving = l.leaving
	return nm
}

// SetTags replaces the node's user tags and announces them: every member
// sees an EventUpdate for this node. Keys must not start with
// ReservedTagPrefix. If the metadata would exceed MetaMaxSize the tags are
// left unchanged and an error wrapping ErrMetaTooLarge is returned. Before
// Start the tags are stored and announced at Start.
func (m *Membership) SetTags(tags map[string]string) error {
	return m.setTags(tags, false)
}

// SetSystemTags replaces the node's reserved tags. It is for Conclave's own
// packages: every key must start with ReservedTagPrefix. Otherwise it
// behaves as SetTags.
func (m *Membership) SetSystemTags(tags map[string]string) error {
	return m.setTags(tags, true)
}

func (m *Membership) setTags(tags map[string]string, system bool) error {
	for k, v := range tags {
		if err := checkTagKey(k, v, system); err != nil {
			return fmt.Errorf("membership: set tags: %w", err)
		}
	}
	m.mu.Lock()
	state := m.state
	m.mu.Unlock()
	if state == stateLeaving || state == stateClosed {
		return ErrClosed
	}
	if err := m.meta.update(tags, system); err != nil {
		return err
	}
	ml, err := m.running()
	if errors.Is(err, ErrNotStarted) {
		return nil // stored; announced at Start
	} else if err != nil {
		return err
	}
	// UpdateNode waits until the update went out to at least one member;
	// its only error is that wait timing out, after which gossip keeps
	// retransmitting the update anyway.
	if err := ml.UpdateNode(m.timing.StreamTimeout); err != nil {
		m.logger.Debug("tag update not yet confirmed sent", "error", err)
	}
	return nil
}
