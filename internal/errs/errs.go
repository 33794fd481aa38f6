// Package errs owns the errors that every Conclave package shares: the
// lifecycle sentinels and the configuration error. Each public package
// re-exports them under its own name, as the same values, so errors.Is
// matches whichever package a caller names.
package errs

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by calls on a closed or closing node.
	ErrClosed = errors.New("conclave: closed")
	// ErrNotStarted is returned by calls that need a started node.
	ErrNotStarted = errors.New("conclave: not started")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("conclave: already started")
	// ErrInvalidConfig is matched by every [ConfigError].
	ErrInvalidConfig = errors.New("conclave: invalid config")
)

// ConfigError reports one bad configuration field: which field, what was
// given and what is allowed. It matches [ErrInvalidConfig] with errors.Is.
// A validation that finds several problems returns them joined
// (errors.Join), one ConfigError each.
type ConfigError struct {
	// Field is the field's path from the Config passed to New, such as
	// "Consensus.BindAddr".
	Field string
	// Value is what was given, formatted for people ("-1", `"a:b:c"`, "nil").
	Value string
	// Allowed says what the field accepts, or how to fix it.
	Allowed string
	// Err is the underlying cause, if any.
	Err error
}

func (e *ConfigError) Error() string {
	msg := "conclave: invalid config: " + e.Field + " is " + e.Value
	if e.Allowed != "" {
		msg += ": " + e.Allowed
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is [ErrInvalidConfig].
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// Invalid returns a [ConfigError] for field. value is formatted with %v,
// except strings, which are quoted; allowed is a format for args.
func Invalid(field string, value any, allowed string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Value: formatValue(value), Allowed: fmt.Sprintf(allowed, args...)}
}

// Wrap returns a [ConfigError] for field caused by err.
func Wrap(field string, value any, err error) *ConfigError {
	return &ConfigError{Field: field, Value: formatValue(value), Err: err}
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "nil"
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// Rename returns err with the Field of every [ConfigError] in it (joined
// errors included) replaced by rename(Field), for a package that validates
// a nested Config through another package. Other errors are kept as they
// are.
func Rename(err error, rename func(field string) string) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Rename(e, rename))
		}
		return errors.Join(out...)
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		c := *ce
		c.Field = rename(c.Field)
		return &c
	}
	return err
}

// Fields returns the Field of every [ConfigError] in err, joined errors
// included, in order.
func Fields(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, Fields(e)...)
		}
		return out
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return []string{ce.Field}
	}
	return nil
}
