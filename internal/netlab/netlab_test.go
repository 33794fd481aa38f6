package netlab

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain also serves as the programs the tests run inside the hosts:
// with NETLAB_LISTEN it accepts TCP connections on that address forever,
// with NETLAB_DIAL it exits 0 when it can connect there within a second.
func TestMain(m *testing.M) {
	if addr := os.Getenv("NETLAB_LISTEN"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			os.Exit(3)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(4)
			}
			c.Close()
		}
	}
	if addr := os.Getenv("NETLAB_DIAL"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			os.Exit(1)
		}
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// reachable reports whether host from can open a TCP connection to port
// 9000 of host to.
func reachable(t *testing.T, l *Lab, from, to int) bool {
	t.Helper()
	cmd := l.Host(from).Command(os.Args[0])
	cmd.Env = append(os.Environ(), "NETLAB_DIAL="+l.Host(to).IP().String()+":9000")
	return cmd.Run() == nil
}

func TestLab(t *testing.T) {
	l := New(t, 3)
	for i := range 3 {
		srv := l.Host(i).Command(os.Args[0])
		srv.Env = append(os.Environ(), "NETLAB_LISTEN=0.0.0.0:9000")
		require.NoError(t, srv.Start())
		t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	}
	require.Eventually(t, func() bool { return reachable(t, l, 0, 1) && reachable(t, l, 1, 2) && reachable(t, l, 2, 0) },
		10*time.Second, 50*time.Millisecond, "every host reaches every other")
	c, err := net.DialTimeout("tcp", l.Host(1).IP().String()+":9000", 2*time.Second)
	require.NoError(t, err, "the test process reaches a host through the bridge")
	c.Close()

	l.Partition([]int{0}, []int{1, 2})
	require.False(t, reachable(t, l, 0, 1))
	require.False(t, reachable(t, l, 2, 0))
	require.True(t, reachable(t, l, 1, 2))
	l.Heal()
	require.True(t, reachable(t, l, 0, 1))

	l.Cut(0, 1)
	require.False(t, reachable(t, l, 0, 1), "0 cannot reach 1")
	require.True(t, reachable(t, l, 2, 1))
	l.Heal()

	old := l.Host(2).IP()
	ip := l.Host(2).Readdress()
	require.NotEqual(t, old, ip)
	require.True(t, reachable(t, l, 0, 2), "reachable at the new address")
}

// A crashed run's namespaces and links are removed by the next lab; a live
// lab's are kept.
func TestRemoveStale(t *testing.T) {
	live := New(t, 1)
	require.NoError(t, exec.Command("ip", "netns", "add", prefix+"stale-0").Run())
	require.NoError(t, exec.Command("ip", "link", "add", prefix+"staleb", "type", "bridge").Run())
	RemoveStale()
	out, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	require.Contains(t, string(out), live.Host(0).Namespace(), "a live lab stays")
	out, err = exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	require.NotContains(t, string(out), prefix+"stale")
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	require.NoError(t, err)
	require.NotContains(t, string(out), prefix+"staleb")
}
