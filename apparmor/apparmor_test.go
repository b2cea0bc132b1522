package apparmor

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	p := Generate("my-profile")
	for _, want := range []string{"profile my-profile ", "deny mount,", "deny @{PROC}/sys/[^k]** w,", "deny /sys/[^f]*/** wklx,", "peer=my-profile"} {
		if !strings.Contains(p, want) {
			t.Errorf("profile lacks %q", want)
		}
	}
}

// TestCheckWithoutAppArmor runs where the kernel has no AppArmor (the
// project's machines): naming a profile must fail clearly, not be skipped.
func TestCheckWithoutAppArmor(t *testing.T) {
	if IsEnabled() {
		t.Skip("AppArmor is enabled here; the VM lane covers the enabled case")
	}
	if err := Check(""); err != nil {
		t.Fatalf("no profile: %v", err)
	}
	err := Check(DefaultProfile)
	if !errors.Is(err, ErrNotEnabled) || !strings.HasPrefix(err.Error(), "process.apparmorProfile:") {
		t.Fatalf("Check: %v", err)
	}
}
