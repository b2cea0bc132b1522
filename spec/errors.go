package spec

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error that reports a spec or argument the
// caller got wrong. Test for it with errors.Is.
var ErrInvalid = errors.New("invalid argument")

// FieldError reports a problem with one field of a spec, named by its JSON
// path (for example "process.args" or "linux.namespaces[2].type").
type FieldError struct {
	// Field is the JSON path of the offending field.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "<field>: <reason>".
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Is makes a FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// invalidError is an error that matches ErrInvalid without saying so in
// its message.
type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// Invalidf formats an error that matches ErrInvalid (%w wraps as usual).
func Invalidf(format string, args ...any) error {
	return &invalidError{err: fmt.Errorf(format, args...)}
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
