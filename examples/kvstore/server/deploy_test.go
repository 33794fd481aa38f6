package server

import (
	"bufio"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// kvstoreFlags returns the flag set the kvstore parses, by name.
func kvstoreFlags(t *testing.T) map[string]bool {
	var help strings.Builder
	_, err := parseFlags([]string{"-h"}, &help)
	require.ErrorIs(t, err, flag.ErrHelp)
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		names[m[1]] = true
	}
	require.Contains(t, names, "name")
	return names
}

// envFlag maps KVSTORE_BOOTSTRAP_EXPECT to bootstrap-expect.
func envFlag(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "KVSTORE_"), "_", "-"))
}

var envRef = regexp.MustCompile(`KVSTORE_[A-Z0-9_]+`)

// Every deployment file names only settings the kvstore has: each
// KVSTORE_ variable is the environment form of an existing flag.
func TestDeployFilesNameExistingFlags(t *testing.T) {
	flags := kvstoreFlags(t)
	files, err := filepath.Glob("../deploy/*")
	require.NoError(t, err)
	require.Len(t, files, 4, "Dockerfile, compose, Kubernetes and systemd")
	for _, path := range files {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		refs := envRef.FindAllString(string(b), -1)
		require.NotEmpty(t, refs, path)
		for _, env := range refs {
			require.True(t, flags[envFlag(env)], "%s: %s sets no flag", path, env)
		}
	}
}

// The compose file parses, and each node names itself, advertises the
// address its network gives it and joins the others.
func TestComposeFile(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Environment map[string]string
			Networks    map[string]struct {
				IPv4 string `yaml:"ipv4_address"`
			}
		}
	}
	readYAML(t, "../deploy/compose.yaml", &compose)
	require.Len(t, compose.Services, 3)
	for name, svc := range compose.Services {
		env := svc.Environment
		require.Equal(t, name, env["KVSTORE_NAME"])
		require.Equal(t, svc.Networks["kv"].IPv4, env["KVSTORE_ADVERTISE"], name)
		require.Equal(t, "3", env["KVSTORE_BOOTSTRAP_EXPECT"])
		for other := range compose.Services {
			require.Contains(t, env["KVSTORE_JOIN"], other+":7946", name)
		}
		o := optionsFromEnv(t, env)
		require.Equal(t, name, o.name)
	}
}

// The Kubernetes manifests parse; the readiness probe asks a path the API
// serves, on the port the container names; the PodDisruptionBudget allows
// one server down; the peers' Service publishes pods before they are ready.
func TestKubernetesManifests(t *testing.T) {
	docs := readYAMLDocs(t, "../deploy/kubernetes.yaml")
	kinds := map[string]map[string]any{}
	for _, d := range docs {
		kinds[d["kind"].(string)+"/"+dig(d, "metadata", "name").(string)] = d
	}
	require.Contains(t, kinds, "StatefulSet/kvstore")
	require.Contains(t, kinds, "PodDisruptionBudget/kvstore")
	require.Equal(t, 1, dig(kinds["PodDisruptionBudget/kvstore"], "spec", "maxUnavailable"))
	require.Equal(t, true, dig(kinds["Service/kvstore-peers"], "spec", "publishNotReadyAddresses"))
	require.Equal(t, "None", dig(kinds["Service/kvstore-peers"], "spec", "clusterIP"))

	container := dig(kinds["StatefulSet/kvstore"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	probe := dig(container, "readinessProbe", "httpGet").(map[string]any)
	require.Equal(t, "http", probe["port"])
	ports := map[string]bool{}
	for _, p := range container["ports"].([]any) {
		ports[p.(map[string]any)["name"].(string)] = true
	}
	require.True(t, ports["http"], "the probe's port is named in the container")
	requireRoute(t, http.MethodGet, probe["path"].(string))

	env := map[string]string{}
	for _, e := range container["env"].([]any) {
		e := e.(map[string]any)
		v, _ := e["value"].(string)
		if v == "" {
			v = "10.0.0.1" // the downward API fills it in: metadata.name or status.podIP
		}
		env[e["name"].(string)] = v
	}
	optionsFromEnv(t, env)
}

// The systemd unit starts the binary with its settings from the
// environment file and stops it with SIGTERM.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("../deploy/kvstore.service")
	require.NoError(t, err)
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	require.Equal(t, "/usr/local/bin/kvstore", keys["ExecStart"])
	require.Equal(t, "SIGTERM", keys["KillSignal"])
	require.Equal(t, "KVSTORE_DATA=/var/lib/kvstore", keys["Environment"])
	require.NotEmpty(t, keys["EnvironmentFile"])
}

// optionsFromEnv parses the kvstore's flags from env alone, with a data
// directory when env has none, and fails the test on a usage error.
func optionsFromEnv(t *testing.T, env map[string]string) options {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	if _, ok := env["KVSTORE_DATA"]; !ok {
		t.Setenv("KVSTORE_DATA", t.TempDir())
	}
	if _, ok := env["KVSTORE_GOSSIP"]; !ok { // the image's defaults
		t.Setenv("KVSTORE_GOSSIP", "0.0.0.0:7946")
		t.Setenv("KVSTORE_RAFT", "0.0.0.0:7950")
	}
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err, "%v", env)
	return o
}

// requireRoute fails unless the API has a handler for method and path.
func requireRoute(t *testing.T, method, path string) {
	t.Helper()
	mux := (&api{}).mux()
	_, pattern := mux.Handler(httptest.NewRequest(method, path, nil))
	require.NotEqual(t, "/", pattern, "%s %s is not a route of the API", method, path)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), path)
}

func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err == io.EOF {
			return docs
		}
		require.NoError(t, err, path)
		docs = append(docs, d)
	}
}

// dig follows keys through nested maps.
func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v
}
