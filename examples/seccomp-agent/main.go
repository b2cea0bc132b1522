// Command seccomp-agent is an example seccomp user-notification agent for
// berth. A container whose profile gives SCMP_ACT_NOTIFY for some calls and
// sets linux.seccomp.listenerPath to the agent's socket sends the agent its
// notify fd when it starts; the agent then decides each of those calls.
//
//	seccomp-agent SOCKET
//
// This agent's policy: mkdir and mkdirat "succeed" without doing anything
// (a read-only rootfs would otherwise refuse them); every other notified
// call fails with EPERM. It logs each decision on stdout.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: seccomp-agent SOCKET")
		os.Exit(2)
	}
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccomp-agent:", err)
		os.Exit(1)
	}
	defer l.Close()
	fmt.Println("listening on", os.Args[1])
	for {
		conn, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "seccomp-agent:", err)
			os.Exit(1)
		}
		fd, state, err := receive(conn.(*net.UnixConn))
		conn.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "seccomp-agent: receive:", err)
			continue
		}
		fmt.Printf("container %s (pid %d) connected\n", state.State.ID, state.Pid)
		go serve(libseccomp.ScmpFd(fd))
	}
}

// receive reads the container process state (JSON) and the notify fd the
// runtime sends over the socket.
func receive(conn *net.UnixConn) (int, *specs.ContainerProcessState, error) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return -1, nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return -1, nil, fmt.Errorf("no fd received: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return -1, nil, err
	}
	var state specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &state); err != nil {
		return -1, nil, err
	}
	for i, name := range state.Fds {
		if name == specs.SeccompFdName && i < len(fds) {
			return fds[i], &state, nil
		}
	}
	return -1, nil, fmt.Errorf("no %q fd among %v", specs.SeccompFdName, state.Fds)
}

// serve answers notifications until the container's filter goes away.
func serve(fd libseccomp.ScmpFd) {
	defer unix.Close(int(fd))
	for {
		req, err := libseccomp.NotifReceive(fd)
		if err != nil {
			return // the container exited
		}
		name, _ := req.Data.Syscall.GetName()
		resp := &libseccomp.ScmpNotifResp{ID: req.ID}
		switch name {
		case "mkdir", "mkdirat":
			fmt.Printf("pid %d %s: faked success\n", req.Pid, name)
		default:
			resp.Error = -int32(unix.EPERM)
			fmt.Printf("pid %d %s: denied\n", req.Pid, name)
		}
		if err := libseccomp.NotifRespond(fd, resp); err != nil {
			fmt.Fprintln(os.Stderr, "seccomp-agent: respond:", err)
		}
	}
}
