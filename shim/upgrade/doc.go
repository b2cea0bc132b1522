// Package upgrade moves a serving shim daemon onto a new binary in place
// (SIGHUP), with the same pid, so that its containers stay its children
// and containerd sees neither a closed connection nor an error. It owns
// what the daemon serves on: the Listener and its connections, which give
// the ttrpc server whole messages only and can freeze at a message
// boundary (conn.go, listener.go), the count of running handlers
// (inflight.go) and the drain when the daemon stops (drain.go). The
// Upgrader orchestrates: it quiesces the connections, asks each part
// (Parts: the pins, the task and sandbox services, the event queue) for
// its own state, writes it as JSON (State) in a memfd named by Env, and
// re-executes the binary; the next image reads it (ReadState) and hands
// each part back its own (Parts.Adopt). Any step that fails is undone and
// the daemon serves on.
//
// Lock rules. Upgrader.mu allows one upgrade at a time; it is held across
// the parts' handovers, each of which takes only its own locks. The
// listener's lock (Listener.mu) and each connection's (handoverConn.mu)
// guard their own fields; neither is held while the other is taken (the
// listener copies its connections out before it freezes them, and a
// connection forgets itself in the listener after releasing its own
// lock), and neither is held while calling out of the package.
package upgrade
