package membership

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestCompressionByProfile(t *testing.T) {
	require.False(t, profileBase(LAN).EnableCompression, "LAN: no compression, which costs CPU on every datagram")
	require.False(t, profileBase(Local).EnableCompression)
	require.True(t, profileBase(WAN).EnableCompression, "WAN links keep memberlist's compression")

	cfg := testConfig(t, "n1")
	cfg.Profile = LAN
	cfg.Tuning.Memberlist = memberlist.DefaultLANConfig()
	mc, _ := buildMemberlistConfig(cfg)
	require.True(t, mc.EnableCompression, "a config given as Tuning.Memberlist keeps its own setting")
}

// TestCompressedAndPlainMembersInteroperate joins a LAN member, which sends
// plain messages, with one whose memberlist compresses them, and checks that
// user events of a compressible size cross both ways.
func TestCompressedAndPlainMembersInteroperate(t *testing.T) {
	plainCfg := testConfig(t, "plain")
	plainCfg.Profile = LAN
	plain := startNode(t, plainCfg)

	zippedCfg := testConfig(t, "zipped")
	zippedCfg.Profile = LAN
	zippedCfg.Tuning.Memberlist = memberlist.DefaultLANConfig()
	zippedCfg.Seeds = []string{plain.Local().Address()}
	zippedCfg.WaitForJoin = true
	zipped := startNode(t, zippedCfg)
	require.True(t, zipped.mlConf.EnableCompression)
	require.False(t, plain.mlConf.EnableCompression)

	nodes := []*Membership{plain, zipped}
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 2) }, "both members alive on both")

	recs := make([]*userRecorder, len(nodes))
	for i, n := range nodes {
		sub := n.SubscribeUserEvents(0)
		t.Cleanup(sub.Close)
		recs[i] = recordUser(sub)
	}
	payload := bytes.Repeat([]byte("compressible "), 50)
	require.NoError(t, plain.Broadcast("from-plain", payload))
	require.NoError(t, zipped.Broadcast("from-zipped", payload))
	for i, r := range recs {
		testkit.WaitFor(t, 10*time.Second, func() bool {
			names := map[string]bool{}
			for _, ev := range r.snapshot() {
				if bytes.Equal(ev.Payload, payload) {
					names[ev.Name] = true
				}
			}
			return names["from-plain"] && names["from-zipped"]
		}, "member %d receives both events whole", i)
	}
}
