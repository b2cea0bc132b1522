package hoststate

// CtrArgs is ctr's command line against the containerd on sock, in
// namespace. The commands that make IO FIFOs (run, task exec, task start,
// task attach) make them in fifoDir: ctr's default, /run/containerd/fifo,
// keeps those of every task ctr did not delete itself (a detached run, a
// task removed by another ctr).
func CtrArgs(sock, namespace, fifoDir string, args ...string) []string {
	out := []string{"-a", sock, "-n", namespace}
	n := 0
	switch {
	case len(args) > 0 && args[0] == "run":
		n = 1
	case len(args) > 1 && args[0] == "task" && (args[1] == "exec" || args[1] == "start" || args[1] == "attach"):
		n = 2
	}
	if n == 0 {
		return append(out, args...)
	}
	out = append(out, args[:n]...)
	out = append(out, "--fifo-dir", fifoDir)
	return append(out, args[n:]...)
}
