package raftwal

import (
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The store keeps logs and stable values across a close and a reopen in
// the same process (raft-wal v0.4.0 alone keeps its metadata file locked
// after Close, so the reopen would wait forever), and reports itself
// monotonic to raft.
func TestReopenInProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Data: []byte("a")},
		{Index: 2, Term: 1, Data: []byte("b")},
	}))
	require.NoError(t, s.SetUint64([]byte("CurrentTerm"), 7))
	mono, ok := s.(raft.MonotonicLogStore)
	require.True(t, ok)
	require.True(t, mono.IsMonotonic())
	require.NoError(t, s.Close())

	s, err = Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	last, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, uint64(2), last)
	var l raft.Log
	require.NoError(t, s.GetLog(2, &l))
	require.Equal(t, "b", string(l.Data))
	term, err := s.GetUint64([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Equal(t, uint64(7), term)
}
