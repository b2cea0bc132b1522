package upgrade

import (
	"context"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
)

// Drain stops serving, each step bounded by timeout:
//  1. once the handlers running have returned (the call that retired the
//     daemon among them);
//  2. once their replies are written: the connections know;
//  3. for a daemon that retired, once its clients have closed their
//     connections: containerd closes its connection when it has the reply
//     of the call that retired the daemon (ShutdownSandbox, Shutdown). A
//     server that closes first can lose that reply to a race in ttrpc's
//     client: the reply and the close reach Client.dispatch together, its
//     select may pick the close, and the call fails with "ttrpc: closed".
//     containerd forgives that on Shutdown, not on ShutdownSandbox;
//  4. gracefully: ttrpc closes each connection with no request in flight.
func Drain(server *ttrpc.Server, l *Listener, handlers *Inflight, retired bool, timeout time.Duration) {
	if !handlers.Wait(timeout) {
		logrus.Warnf("shutting down with requests still running after %s", timeout)
	}
	if !l.waitAnswered(timeout) {
		logrus.Warnf("shutting down with replies still unwritten after %s", timeout)
	}
	if retired && !l.waitClientsGone(timeout) {
		logrus.Debugf("shutting down with clients still connected after %s", timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = server.Shutdown(ctx)
}
