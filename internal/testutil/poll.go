package testutil

import "time"

// WaitValue reads get every interval until it returns want or timeout has
// passed, and returns what it read last: a check compares that value, so a
// wait that runs out says what it saw.
func WaitValue(get func() string, want string, timeout, interval time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		got := get()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(interval)
	}
}
