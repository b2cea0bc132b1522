// Command recvtty receives the master ends of containers' pseudoterminals
// over a console socket (runc's --console-socket protocol: one fd by
// SCM_RIGHTS a connection) and appends what each terminal prints to a
// file, until it is killed. The systemd VM lane runs it for its checkpoint
// of a container with a terminal; runc's contrib/cmd/recvtty does the same.
//
//	recvtty SOCKET OUTPUT
package main

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/berth-oci/berth/internal/testutil"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: recvtty SOCKET OUTPUT")
		os.Exit(2)
	}
	if err := serve(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "recvtty:", err)
		os.Exit(1)
	}
}

func serve(socket, output string) error {
	out, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return err
	}
	defer l.Close()
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			return err
		}
		master, err := testutil.ReceiveFd(conn)
		conn.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "recvtty:", err)
			continue
		}
		// Each terminal is read to its end: a restored container's new
		// master follows the dumped one's.
		go func() {
			defer master.Close()
			_, _ = io.Copy(out, master)
		}()
	}
}
