package membership

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/errs"
)

func validConfig() Config {
	return Config{Name: "n1"}
}

func TestZeroConfigMeansDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	require.NoError(t, cfg.validate())
	host, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, host, cfg.Name)
	require.Equal(t, LAN, cfg.Profile)
	require.Equal(t, RoleClient, cfg.Role)
	require.Equal(t, DefaultBindAddr, cfg.BindAddr)
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{"long name", func(c *Config) { c.Name = strings.Repeat("x", 129) }, "Name"},
		{"bad utf8 name", func(c *Config) { c.Name = "\xff" }, "Name"},
		{"bind without port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "BindAddr"},
		{"bind host name", func(c *Config) { c.BindAddr = "localhost:0" }, "BindAddr"},
		{"bind port range", func(c *Config) { c.BindAddr = "127.0.0.1:70000" }, "BindAddr"},
		{"advertise host name", func(c *Config) { c.AdvertiseAddr = "example.com:1" }, "AdvertiseAddr"},
		{"role", func(c *Config) { c.Role = Role(9) }, "Role"},
		{"rpc without port", func(c *Config) { c.RPCAddr = "10.0.0.1" }, "RPCAddr"},
		{"rpc port zero", func(c *Config) { c.RPCAddr = "10.0.0.1:0" }, "RPCAddr"},
		{"empty tag key", func(c *Config) { c.Tags = map[string]string{"": "v"} }, `Tags[""]`},
		{"reserved user tag", func(c *Config) { c.Tags = map[string]string{"conclave:x": "v"} }, `Tags["conclave:x"]`},
		{"unreserved system tag", func(c *Config) { c.SystemTags = map[string]string{"x": "v"} }, `SystemTags["x"]`},
		{"bare prefix system tag", func(c *Config) { c.SystemTags = map[string]string{"conclave:": "v"} }, `SystemTags["conclave:"]`},
		{"meta too large", func(c *Config) { c.Tags = map[string]string{"big": strings.Repeat("v", 600)} }, "Tags"},
		{"empty seed", func(c *Config) { c.Seeds = []string{""} }, "Seeds[0]"},
		{"seed bad port", func(c *Config) { c.Seeds = []string{"a", "b:x"} }, "Seeds[1]"},
		{"seed after port", func(c *Config) { c.Seeds = []string{"host:7946:x"} }, "Seeds[0]"},
		{"advertise wildcard", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" }, "AdvertiseAddr"},
		{"profile", func(c *Config) { c.Profile = Profile(7) }, "Profile"},
		{"negative timing", func(c *Config) { c.Tuning.ProbeInterval = -time.Second }, "Tuning.ProbeInterval"},
		{"key size", func(c *Config) { c.Keys = [][]byte{make([]byte, 10)} }, "Keys[0]"},
		{"duplicate key", func(c *Config) { c.Keys = [][]byte{make([]byte, 16), make([]byte, 16)} }, "Keys[1]"},
		{"label", func(c *Config) { c.Label = strings.Repeat("l", 300) }, "Label"},
		{"memberlist protocol", func(c *Config) {
			mc := memberlist.DefaultLANConfig()
			mc.ProtocolVersion = 99
			c.Tuning.Memberlist = mc
		}, "Tuning.Memberlist.ProtocolVersion"},
		{"memberlist zero probe", func(c *Config) {
			mc := memberlist.DefaultLANConfig()
			mc.ProbeInterval = 0
			c.Tuning.Memberlist = mc
		}, "Tuning.ProbeInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Contains(t, errs.Fields(err), tt.field, err.Error())
		})
	}
}

func TestConfigReportsEveryBadField(t *testing.T) {
	cfg := validConfig()
	cfg.Name = "\xff"
	cfg.BindAddr = "nope"
	cfg.Role = Role(3)
	cfg.Seeds = []string{"a:1:x", "ok", "b:0"}
	_, err := New(cfg)
	require.ElementsMatch(t, []string{"Name", "BindAddr", "Role", "Seeds[0]", "Seeds[2]"}, errs.Fields(err))
	require.ErrorContains(t, err, `Seeds[0] is "a:1:x": want "host:port"`)
}

func TestConfigErrorsWrapCauses(t *testing.T) {
	cfg := validConfig()
	cfg.Tags = map[string]string{"big": strings.Repeat("v", 600)}
	_, err := New(cfg)
	require.ErrorIs(t, err, ErrMetaTooLarge)

	cfg = validConfig()
	cfg.Tags = map[string]string{ReservedTagPrefix + "x": "v"}
	_, err = New(cfg)
	require.ErrorIs(t, err, ErrReservedTag)
}

func TestValidConfigVariants(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"seeds": func(c *Config) {
			c.Seeds = []string{"10.0.0.1:7946", "10.0.0.2", "node.example.com", "[::1]:7000", "::1"}
		},
		"advertise ip": func(c *Config) { c.AdvertiseAddr = "10.1.1.1" },
		"advertise":    func(c *Config) { c.AdvertiseAddr = "10.1.1.1:9000" },
		"ipv6 bind":    func(c *Config) { c.BindAddr = "[::1]:0" },
		"any bind":     func(c *Config) { c.BindAddr = ":0" },
		"system tags":  func(c *Config) { c.SystemTags = map[string]string{"conclave:expect": "3"} },
		"keys":         func(c *Config) { c.Keys = [][]byte{make([]byte, 16), make([]byte, 24), make([]byte, 32)} },
		"no sync":      func(c *Config) { c.Tuning.JoinSyncRounds = -1 },
		"escape hatch": func(c *Config) { c.Tuning.Memberlist = memberlist.DefaultWANConfig() },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := validConfig()
			mutate(&cfg)
			m, err := New(cfg)
			require.NoError(t, err)
			require.NoError(t, m.Close())
		})
	}
}

func TestNewStartsNothingAndCopiesConfig(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	cfg := validConfig()
	cfg.Tags = map[string]string{"zone": "a"}
	cfg.Seeds = []string{"10.0.0.1"}
	m, err := New(cfg)
	require.NoError(t, err)
	cfg.Tags["zone"] = "changed"
	cfg.Seeds[0] = "changed"

	require.NoError(t, goleak.Find(ignore), "New must not start goroutines")
	require.Equal(t, "a", m.Local().Tags["zone"])
	require.Equal(t, "10.0.0.1", m.cfg.Seeds[0])
	require.Equal(t, StatusNone, m.Local().Status)
	require.Empty(t, m.Members())
	require.NoError(t, m.Close())
}

func TestProfiles(t *testing.T) {
	lan, local, wan := LAN.Timing(), Local.Timing(), WAN.Timing()
	require.Equal(t, 200*time.Millisecond, lan.ProbeInterval)
	require.Equal(t, 2*time.Second, time.Duration(lan.SuspicionMult)*lan.ProbeInterval, "LAN suspicion outlasts a 2 s stall")
	require.Equal(t, 30*time.Second, lan.PushPullInterval)
	require.LessOrEqual(t, local.ProbeInterval, lan.ProbeInterval)
	require.Less(t, local.SuspicionMult, lan.SuspicionMult, "Local declares failures sooner")
	require.LessOrEqual(t, local.PushPullInterval, 2*time.Second)
	require.LessOrEqual(t, local.GossipInterval, 50*time.Millisecond)
	require.Greater(t, wan.ProbeInterval, lan.ProbeInterval)
	for _, p := range []Profile{LAN, Local, WAN} {
		require.NoError(t, validateEffective(p.Timing()), p.String())
	}
	require.Equal(t, "profile(9)", Profile(9).String())
}

func TestTimingOverrides(t *testing.T) {
	cfg := validConfig()
	cfg.Profile = Local
	cfg.Tuning.ProbeInterval = 333 * time.Millisecond
	cfg.Tuning.ReconnectTimeout = time.Minute
	m, err := New(cfg)
	require.NoError(t, err)
	defer m.Close()
	got := m.Timing()
	require.Equal(t, 333*time.Millisecond, got.ProbeInterval)
	require.Equal(t, time.Minute, got.ReconnectTimeout)
	require.Equal(t, Local.Timing().GossipInterval, got.GossipInterval)
	require.Equal(t, 333*time.Millisecond, m.mlConf.ProbeInterval)
}

func TestEscapeHatch(t *testing.T) {
	mc := memberlist.DefaultLANConfig()
	mc.ProbeInterval = 777 * time.Millisecond
	mc.GossipNodes = 5
	mc.Name = "ignored"
	cfg := validConfig()
	cfg.Profile = Local
	cfg.Tuning.Memberlist = mc
	cfg.Tuning.GossipNodes = 6
	m, err := New(cfg)
	require.NoError(t, err)
	defer m.Close()
	require.Equal(t, 777*time.Millisecond, m.Timing().ProbeInterval, "escape hatch replaces the profile's memberlist values")
	require.Equal(t, 6, m.Timing().GossipNodes, "non-zero Timing fields still apply")
	require.Equal(t, Local.Timing().ReconnectInterval, m.Timing().ReconnectInterval, "Conclave's own timing keeps the profile")
	mc.ProbeInterval = time.Hour
	require.Equal(t, 777*time.Millisecond, m.mlConf.ProbeInterval, "the escape hatch is copied")
	require.Equal(t, "n1", m.finishConfig(&transport{}).Name)
}

func TestNameConflictErrorIs(t *testing.T) {
	err := error(&NameConflictError{Name: "b", Existing: "1.1.1.1:1", Candidate: "2.2.2.2:2"})
	require.True(t, errors.Is(err, ErrNameConflict))
	require.Contains(t, err.Error(), "1.1.1.1:1")
	require.Contains(t, err.Error(), "2.2.2.2:2")
}
