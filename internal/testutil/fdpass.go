package testutil

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ReceiveFd reads one message from conn and returns the one file
// descriptor it carries (SCM_RIGHTS), as a console or pidfd socket gets
// it, named by the message's text.
func ReceiveFd(conn *net.UnixConn) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", conn.LocalAddr(), err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no file descriptor in the message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no file descriptor in the message (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
