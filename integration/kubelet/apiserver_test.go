package kubelet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/hoststate"
)

// apiServerURL is where the node e2e suite's API server listens (its
// framework's default host).
const apiServerURL = "https://127.0.0.1:6443"

// apiServer is the node e2e suite's own etcd and API server, run apart
// (e2e_node.test --run-services-mode, as the suite runs them itself), for
// the scenarios that need the API: a pod resized in place. The standalone
// kubelet registers with it; the token is a cluster admin's.
type apiServer struct {
	cmd        *exec.Cmd
	token      string
	kubeconfig string
	client     http.Client
}

// startAPIServer starts the API server with its working directory in dir
// (its token file goes there, its log to dir/apiserver.log) and waits up
// to timeout for it to answer.
func startAPIServer(t *testing.T, bins, dir string, timeout time.Duration) *apiServer {
	t.Helper()
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	a := &apiServer{
		token:      hex.EncodeToString(raw),
		kubeconfig: filepath.Join(dir, "standalone-kubeconfig"),
		client: http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			// The suite's API server has a self-signed certificate.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
		}},
	}
	config := fmt.Sprintf(kubeconfigTemplate, a.token, apiServerURL)
	if err := os.WriteFile(a.kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "apiserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	a.cmd = exec.Command(filepath.Join(bins, "e2e_node.test"), "--run-services-mode", "--bearer-token="+a.token)
	a.cmd.Dir, a.cmd.Stdout, a.cmd.Stderr = dir, logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(a.stop)
	started := time.Now()
	deadline := started.Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := a.request(ctx, http.MethodGet, "/readyz", "", nil)
		cancel()
		if err == nil {
			t.Logf("the API server ready in %s", time.Since(started).Round(time.Millisecond))
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server not ready after %s: %v %s (its log: %s)", timeout, err, out, filepath.Join(dir, "apiserver.log"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stop ends the API server (SIGTERM: it stops etcd and removes its data).
func (a *apiServer) stop() {
	if a.cmd != nil {
		hoststate.Terminate(a.cmd, 20*time.Second)
		a.cmd = nil
	}
}

// request sends a request to the API server and returns the body of a 2xx
// answer; any other answer is an error carrying its body.
func (a *apiServer) request(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, apiServerURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return out, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return out, nil
}

// kubeconfigTemplate is the kubelet's kubeconfig; its arguments are the
// token and the server.
const kubeconfigTemplate = `apiVersion: v1
kind: Config
users:
- name: kubelet
  user: {token: %s}
clusters:
- name: lane
  cluster: {server: %q, insecure-skip-tls-verify: true}
contexts:
- name: lane
  context: {cluster: lane, user: kubelet}
current-context: lane
`
