package upgrade

import "time"

// pollUntil calls done every interval until it reports true, or timeout
// has passed, and reports whether it did.
func pollUntil(timeout, interval time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
