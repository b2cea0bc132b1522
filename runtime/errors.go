package runtime

import (
	"errors"
	"fmt"

	"github.com/berth-oci/berth/spec"
	"github.com/opencontainers/runc/libcontainer"
)

// Errors returned by the package wrap one of these; test with errors.Is.
var (
	// ErrNotFound: no container with that id.
	ErrNotFound = errors.New("container does not exist")
	// ErrExists: a container with that id already exists.
	ErrExists = errors.New("container already exists")
	// ErrInvalid: an argument or the spec is invalid. It is spec.ErrInvalid.
	ErrInvalid = spec.ErrInvalid
	// ErrWrongState: the container's state does not allow the operation.
	ErrWrongState = errors.New("container is in the wrong state")
	// ErrNotSupported: the host lacks what the operation needs (such as
	// cgroup v2 for memory.events).
	ErrNotSupported = errors.New("not supported on this host")
)

// kindError keeps the message of the error it wraps and adds a kind that
// errors.Is can match.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

func withKind(kind, err error) error {
	if err == nil || errors.Is(err, kind) {
		return err
	}
	return &kindError{kind: kind, err: err}
}

// classify maps libcontainer's errors onto the package's kinds.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, libcontainer.ErrNotExist):
		return withKind(ErrNotFound, err)
	case errors.Is(err, libcontainer.ErrExist):
		return withKind(ErrExists, err)
	case errors.Is(err, libcontainer.ErrInvalidID):
		return withKind(ErrInvalid, err)
	case errors.Is(err, libcontainer.ErrRunning), errors.Is(err, libcontainer.ErrNotRunning),
		errors.Is(err, libcontainer.ErrPaused), errors.Is(err, libcontainer.ErrNotPaused):
		return withKind(ErrWrongState, err)
	}
	return err
}

// errorf formats an error of the given kind; the kind is not repeated in
// the message.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// opError prefixes err with the operation and the container id, the id
// shortened when it is too long to read.
func opError(op, id string, err error) error {
	switch {
	case id == "":
		return fmt.Errorf("%s: %w", op, err)
	case len(id) > 64:
		return fmt.Errorf("%s %s...: %w", op, id[:64], err)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}
