package membership

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/conclave-go/conclave/internal/wire"
)

// The member snapshot (Config.SnapshotPath) records the members this node
// knows, alive or failed, and whether it left on purpose. At New, a
// snapshot without the left mark adds the recorded addresses to the seeds,
// so a restarted node rejoins its cluster even if no configured seed is
// alive; after a Leave it does not. The file is rewritten (to a temporary
// file, then renamed) after every membership change.

const snapshotVersion = 1

// maxSnapshotMembers bounds the members a snapshot holds.
const maxSnapshotMembers = 4096

type snapshot struct {
	Left    bool
	Members []snapshotMember
}

type snapshotMember struct{ Name, Addr string }

func (s snapshot) encode() []byte {
	b := []byte{snapshotVersion, 0}
	if s.Left {
		b[1] = 1
	}
	b = wire.AppendUvarint(b, uint64(len(s.Members)))
	for _, m := range s.Members {
		b = wire.AppendString(b, m.Name)
		b = wire.AppendString(b, m.Addr)
	}
	return b
}

var errBadSnapshot = errors.New("membership: malformed snapshot")

func decodeSnapshot(b []byte) (snapshot, error) {
	d := wire.NewDecoder(b, errBadSnapshot)
	if v := d.Uint8("version"); d.Err() == nil && v != snapshotVersion {
		d.Failf("version %d", v)
	}
	var s snapshot
	switch d.Uint8("left") {
	case 0:
	case 1:
		s.Left = true
	default:
		d.Failf("left flag")
	}
	n := d.Count("members", maxSnapshotMembers, 2)
	for range n {
		m := snapshotMember{Name: d.String("name", maxNameLen), Addr: d.String("address", 64)}
		if d.Err() == nil {
			if _, _, err := splitSeed(m.Addr); err != nil || validateName(m.Name) != nil {
				d.Failf("member %q at %q", m.Name, m.Addr)
			}
		}
		s.Members = append(s.Members, m)
	}
	return s, d.Finish()
}

// readSnapshot reads the snapshot at path; a missing file is an empty one.
func readSnapshot(path string) (snapshot, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, nil
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("membership: read snapshot: %w", err)
	}
	return decodeSnapshot(b)
}

// writeSnapshot replaces the snapshot at path atomically.
func writeSnapshot(path string, s snapshot) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("membership: write snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(s.encode()); err != nil {
		tmp.Close()
		return fmt.Errorf("membership: write snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("membership: write snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("membership: write snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("membership: write snapshot: %w", err)
	}
	return nil
}

// snapshotSeeds returns the addresses to add to the seeds from the snapshot
// at path: none after an intentional leave.
func snapshotSeeds(path, self string) ([]string, error) {
	s, err := readSnapshot(path)
	if err != nil || s.Left {
		return nil, err
	}
	var out []string
	for _, m := range s.Members {
		if m.Name != self {
			out = append(out, m.Addr)
		}
	}
	return out, nil
}

// currentSnapshot returns the members to record: every other member not
// known to have left.
func (m *Membership) currentSnapshot(left bool) snapshot {
	s := snapshot{Left: left}
	m.hub.read(func(t *table) {
		for _, mem := range t.members() {
			if mem.Name != m.cfg.Name && (mem.Status == StatusAlive || mem.Status == StatusFailed) {
				s.Members = append(s.Members, snapshotMember{Name: mem.Name, Addr: mem.Address()})
			}
		}
	})
	return s
}

// saveSnapshot writes the current snapshot, logging a failure.
func (m *Membership) saveSnapshot(left bool) {
	if err := writeSnapshot(m.cfg.SnapshotPath, m.currentSnapshot(left)); err != nil {
		m.logger.Warn("cannot save the member snapshot", "path", m.cfg.SnapshotPath, "error", err)
	}
}

// snapshotLoop rewrites the snapshot after membership changes, folding
// changes that arrive together into one write.
func (m *Membership) snapshotLoop(sub *Subscription) {
	defer m.loops.Done()
	defer sub.Close()
	for {
		select {
		case <-m.loopCtx.Done():
			return
		case _, ok := <-sub.Events():
			if !ok {
				return
			}
		}
		for drained := false; !drained; {
			select {
			case <-sub.Events():
			default:
				drained = true
			}
		}
		m.saveSnapshot(false)
	}
}
