package testutil

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ReadMessage reads one message from conn (a datagram, or what one write
// on a stream carries): its text and the file descriptors it carries
// (SCM_RIGHTS), which are the caller's to close.
func ReadMessage(conn *net.UnixConn) (string, []*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", conn.LocalAddr(), err)
	}
	var files []*os.File
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", conn.LocalAddr(), err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue // not SCM_RIGHTS
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), string(buf[:n])))
		}
	}
	return string(buf[:n]), files, nil
}

// ReceiveFd reads one message from conn and returns the one file
// descriptor it carries, as a console or pidfd socket gets it, named by
// the message's text.
func ReceiveFd(conn *net.UnixConn) (*os.File, error) {
	_, files, err := ReadMessage(conn)
	if err != nil {
		return nil, err
	}
	if len(files) != 1 {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("%d file descriptors in the message, want 1", len(files))
	}
	return files[0], nil
}

// CloseAll closes files.
func CloseAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
