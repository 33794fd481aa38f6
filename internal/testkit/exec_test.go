package testkit

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExecWaitsForTheReadyLine(t *testing.T) {
	var e Exec
	require.Nil(t, e.Process())
	require.Nil(t, e.Signal(syscall.SIGTERM), "nothing to stop before the first run")
	cmd := exec.Command("sh", "-c", "echo starting; echo note >&2; echo ready; exec sleep 60")
	require.NoError(t, e.Start(t, cmd, "ready", 30*time.Second))
	require.NotNil(t, e.Process())
	require.True(t, e.StderrContains("note"))
	st := e.Signal(syscall.SIGTERM)
	require.NotNil(t, st)
	require.Equal(t, syscall.SIGTERM, st.Sys().(syscall.WaitStatus).Signal(), "stopped by the signal")
}

func TestExecReportsAnEarlyExit(t *testing.T) {
	var e Exec
	err := e.Start(t, exec.Command("sh", "-c", "echo bad flag >&2; exit 2"), "ready", 30*time.Second)
	require.ErrorContains(t, err, "exited: bad flag")
	require.Equal(t, 2, e.Signal(syscall.SIGKILL).ExitCode())
}

func TestExecKillsAfterTheTimeout(t *testing.T) {
	var e Exec
	err := e.Start(t, exec.Command("sleep", "60"), "ready", 50*time.Millisecond)
	require.ErrorContains(t, err, `no "ready" on stdout within 50ms`)
	st := e.Signal(syscall.SIGKILL)
	require.Equal(t, syscall.SIGKILL, st.Sys().(syscall.WaitStatus).Signal(), "killed at the timeout")
}
