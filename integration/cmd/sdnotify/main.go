// Command sdnotify sends its arguments, one a line, as one datagram to
// $NOTIFY_SOCKET, as systemd-notify does: the container side of the
// notify relay's tests. It is built static (CGO_ENABLED=0) into a busybox
// rootfs.
//
//	sdnotify READY=1 [STATUS=...]
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" || len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: NOTIFY_SOCKET=path sdnotify VAR=VALUE...")
		os.Exit(2)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte(strings.Join(os.Args[1:], "\n") + "\n"))
		conn.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdnotify:", err)
		os.Exit(1)
	}
}
