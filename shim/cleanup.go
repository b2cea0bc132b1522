package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/options"
	"github.com/berth-oci/berth/shim/sandbox"
	"github.com/berth-oci/berth/shim/task"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	berth "github.com/berth-oci/berth/runtime"
)

// cleanup is the "delete" action, run by containerd after every task
// (and after a dead daemon): force-delete the container, unmount its
// rootfs, and print a DeleteResponse. It is idempotent and touches only
// this container, since the group's daemon may still serve others.
func cleanup(ctx context.Context, f *flags, stdout io.Writer) error {
	bundle, err := bundleDir(f)
	if err != nil {
		return err
	}
	rt, err := berth.New(options.StateRoot(bundle, f.namespace))
	if err != nil {
		return err
	}
	if err := rt.Delete(ctx, f.id, true); err != nil && !errors.Is(err, berth.ErrNotFound) {
		fmt.Fprintf(os.Stderr, "delete %s: %v\n", f.id, err)
	}
	if err := berth.UnmountRootfs(filepath.Join(bundle, "rootfs")); err != nil {
		fmt.Fprintf(os.Stderr, "unmount rootfs of %s: %v\n", f.id, err)
	}
	removeDeadSocket(bundle)
	sandbox.RemoveFiles(bundle, f.id)
	pid := 0
	if data, err := os.ReadFile(filepath.Join(bundle, task.InitPidFile)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	out, err := proto.Marshal(&taskv3.DeleteResponse{
		Pid:        uint32(pid),
		ExitStatus: 128 + 9, // the container was killed, as containerd expects
		ExitedAt:   timestamppb.Now(),
	})
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// removeDeadSocket removes the group daemon's socket (named in the
// bundle's address file) when no daemon answers on it any more, as after
// the daemon was killed. A live daemon, still serving other containers of
// its group, keeps it.
func removeDeadSocket(bundle string) {
	data, err := os.ReadFile(filepath.Join(bundle, addressFile))
	if err != nil {
		return
	}
	path := socketPath(strings.TrimSpace(string(data)))
	if path == "" {
		return
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		_ = os.Remove(path)
	}
}
