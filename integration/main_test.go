package integration

import (
	"os"
	"testing"

	"github.com/berth-oci/berth/integration/busybox"
)

// TestMain removes the sdnotify binary the tests built, once they end.
func TestMain(m *testing.M) { os.Exit(busybox.RunTests(m)) }
