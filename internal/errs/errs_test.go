package errs

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigErrorNamesFieldValueAndAllowed(t *testing.T) {
	err := Invalid("MaxVoters", -1, "allowed %d or more", 0)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.EqualError(t, err, "conclave: invalid config: MaxVoters is -1: allowed 0 or more")

	err = Invalid("Seeds[0]", "a:1:x", "want host:port")
	require.EqualError(t, err, `conclave: invalid config: Seeds[0] is "a:1:x": want host:port`)

	cause := errors.New("too long")
	wrapped := Wrap("Tags", 3, cause)
	require.ErrorIs(t, wrapped, cause)
	require.ErrorIs(t, wrapped, ErrInvalidConfig)
}

func TestRenameRewritesEveryJoinedField(t *testing.T) {
	other := errors.New("not a config error")
	err := errors.Join(Invalid("BindAddr", "x", "want ip:port"), other, Invalid("DataDir", "", "required"))
	got := Rename(err, func(f string) string { return "Consensus." + f })

	require.Equal(t, []string{"Consensus.BindAddr", "Consensus.DataDir"}, Fields(got))
	require.Equal(t, []string{"BindAddr", "DataDir"}, Fields(err), "the original is not modified")
	require.ErrorIs(t, got, other)
	require.ErrorIs(t, got, ErrInvalidConfig)
	require.Nil(t, Rename(nil, nil))
}
