package server

import (
	"fmt"
	"net"
	"net/netip"
)

// validateAdvertise checks the advertised addresses: a wildcard bind needs
// one, and an advertised address must be one other nodes can dial.
func (o options) validateAdvertise() error {
	for _, a := range []struct{ flag, value string }{
		{"-advertise", o.advertise}, {"-advertise-gossip", o.advertiseGossip}, {"-advertise-raft", o.advertiseRaft},
	} {
		if a.value == "" {
			continue
		}
		if err := checkAdvertise(a.value, a.flag != "-advertise-raft"); err != nil {
			return usagef("%s: %v", a.flag, err)
		}
	}
	if wildcard(o.gossipAddr) && o.gossipAdvertise() == "" {
		return usagef("-gossip %s binds every interface: set -advertise (or -advertise-gossip) to the IP other nodes reach this one at", o.gossipAddr)
	}
	if wildcard(o.raftAddr) && o.raftAdvertise() == "" {
		return usagef("-raft %s binds every interface: set -advertise (or -advertise-raft) to the address other servers reach this one at", o.raftAddr)
	}
	return nil
}

// gossipAdvertise is the gossip address to advertise; "" means the bound one.
func (o options) gossipAdvertise() string {
	if o.advertiseGossip != "" {
		return o.advertiseGossip
	}
	return o.advertise
}

// raftAdvertise is the Raft address to advertise; "" means the bound one.
func (o options) raftAdvertise() string {
	if o.advertiseRaft != "" {
		return o.advertiseRaft
	}
	return o.advertise
}

// wildcard reports whether addr's host is empty or an unspecified IP.
func wildcard(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return host == "" || (err == nil && ip.IsUnspecified())
}

// checkAdvertise accepts "host" or "host:port". Gossip advertises an IP
// (ipOnly); Raft may advertise a DNS name. Wildcard, multicast and broadcast
// addresses are refused: no node can dial them.
func checkAdvertise(v string, ipOnly bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		host, port = v, ""
	}
	if port != "" {
		if err := checkHostPort(v); err != nil {
			return err
		}
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "":
		return fmt.Errorf("%q has no host", v)
	case err != nil && ipOnly:
		return fmt.Errorf("%q is not an IP address: gossip advertises an IP (use -advertise-raft for a DNS name)", v)
	case err != nil:
		return nil
	case ip.IsUnspecified():
		return fmt.Errorf("%q is a wildcard address: give the IP other nodes reach this one at", v)
	case ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%q is not a unicast address", v)
	}
	return nil
}
