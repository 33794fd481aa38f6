package testkit

import "go.uber.org/goleak"

// LeakOptions are the goleak options for packages that run memberlist:
// memberlist does not join a probe in flight at shutdown; it ends within one
// probe interval, which Lifeguard stretches up to eight times on a node that
// saw peers come and go.
func LeakOptions() []goleak.Option {
	return []goleak.Option{goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode")}
}
