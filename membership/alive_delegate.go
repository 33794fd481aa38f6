package membership

import (
	"fmt"

	"github.com/hashicorp/memberlist"
)

// aliveDelegate admits a node only when its metadata is well formed, so that
// every member in the table has a role, a protocol version and valid tags.
// memberlist calls it with its node lock held; it only decodes.
type aliveDelegate struct{}

var _ memberlist.AliveDelegate = aliveDelegate{}

// NotifyAlive implements memberlist.AliveDelegate.
func (aliveDelegate) NotifyAlive(peer *memberlist.Node) error {
	if _, err := decodeMeta(peer.Meta); err != nil {
		return fmt.Errorf("node %q at %s: %w", peer.Name, peer.Address(), err)
	}
	return nil
}
