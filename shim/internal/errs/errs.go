// Package errs maps the shim's errors onto containerd's error codes, once
// for every service the daemon serves.
package errs

import (
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	berth "github.com/berth-oci/berth/runtime"
)

// ToGRPC maps an error onto containerd's error codes, the one place where
// berth's kinds become errdefs'.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch {
	case errors.Is(err, berth.ErrNotFound):
		kind = errdefs.ErrNotFound
	case errors.Is(err, berth.ErrExists):
		kind = errdefs.ErrAlreadyExists
	case errors.Is(err, berth.ErrInvalid):
		kind = errdefs.ErrInvalidArgument
	case errors.Is(err, berth.ErrWrongState):
		kind = errdefs.ErrFailedPrecondition
	case errors.Is(err, berth.ErrNotSupported):
		kind = errdefs.ErrNotImplemented
	}
	if kind != nil && !errors.Is(err, kind) {
		err = fmt.Errorf("%w: %w", kind, err)
	}
	return errgrpc.ToGRPC(err)
}
