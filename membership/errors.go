package membership

import (
	"errors"
	"fmt"

	"github.com/conclave-go/conclave/internal/errs"
)

// ConfigError names one bad field of a [Config], what was given and what is
// allowed. It matches [ErrInvalidConfig].
type ConfigError = errs.ConfigError

// Sentinel errors. Compare with errors.Is; the returned errors usually wrap
// one of these with detail.
var (
	// ErrInvalidConfig is matched by every error New returns for a bad
	// Config: one [ConfigError] per bad field, joined. The same value as
	// consensus.ErrInvalidConfig and cluster.ErrInvalidConfig.
	ErrInvalidConfig = errs.ErrInvalidConfig
	// ErrNotStarted is returned by calls that need a started node.
	ErrNotStarted = errs.ErrNotStarted
	// ErrAlreadyStarted is returned by a second call to Start.
	ErrAlreadyStarted = errs.ErrAlreadyStarted
	// ErrClosed is returned once Close or Leave has stopped the node.
	ErrClosed = errs.ErrClosed
	// ErrJoinFailed is wrapped when no address of a join could be reached or
	// every reached peer refused the node.
	ErrJoinFailed = errors.New("membership: join failed")
	// ErrNameConflict is matched by a [*NameConflictError].
	ErrNameConflict = errors.New("membership: node name conflict")
	// ErrMetaTooLarge is wrapped when the encoded metadata (role, RPC address,
	// tags) would exceed memberlist's 512-byte limit.
	ErrMetaTooLarge = errors.New("membership: metadata too large")
	// ErrReservedTag is wrapped when a user tag uses [ReservedTagPrefix].
	ErrReservedTag = errors.New("membership: reserved tag key")
	// ErrBadMeta is wrapped when metadata received from a peer is malformed.
	ErrBadMeta = errors.New("membership: malformed metadata")
	// ErrNoEncryption is returned by keyring operations on a node configured
	// without encryption keys.
	ErrNoEncryption = errors.New("membership: gossip encryption is not enabled")
	// ErrUnknownMember is wrapped by ForceLeave for a name the member list
	// does not hold.
	ErrUnknownMember = errors.New("membership: unknown member")
	// ErrNotFailed is wrapped by ForceLeave for a member that is alive.
	ErrNotFailed = errors.New("membership: member is not failed")
	// ErrTooLarge is wrapped when a user event, a query or a query response
	// would exceed [MaxMessageSize]; nothing is sent or truncated.
	ErrTooLarge = errors.New("membership: message too large")
	// ErrInvalidArgument is wrapped when an event or query name, a filter or
	// a parameter is not allowed.
	ErrInvalidArgument = errors.New("membership: invalid argument")
	// ErrNoHandler is matched by the error of a query response from a
	// member that has no handler for the query's name.
	ErrNoHandler = errors.New("membership: no query handler")
)

// NameConflictError reports that a node name is already held by a live
// member at another address. Joining with a name that a live member holds is
// refused on both sides.
type NameConflictError struct {
	// Name is the contested node name.
	Name string
	// Existing is the address of the member that holds the name.
	Existing string
	// Candidate is the address of the node that was refused.
	Candidate string
}

func (e *NameConflictError) Error() string {
	return fmt.Sprintf("membership: node name %q is already used by a live member at %s; refusing the node at %s",
		e.Name, e.Existing, e.Candidate)
}

// Is reports whether target is [ErrNameConflict].
func (e *NameConflictError) Is(target error) bool { return target == ErrNameConflict }
