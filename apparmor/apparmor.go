// Package apparmor holds berth's AppArmor pieces: detection, the
// berth-default profile (in the spirit of Docker's docker-default), loading
// it with apparmor_parser, and the check that a spec's profile can apply.
package apparmor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	lcapparmor "github.com/opencontainers/runc/libcontainer/apparmor"
)

// DefaultProfile is the name of berth's default profile.
const DefaultProfile = "berth-default"

// ErrNotEnabled is returned when a spec names a profile on a host without
// AppArmor.
var ErrNotEnabled = errors.New("AppArmor is not enabled on this host")

// profilesFile lists the loaded profiles.
const profilesFile = "/sys/kernel/security/apparmor/profiles"

// IsEnabled reports whether the kernel has AppArmor enabled.
func IsEnabled() bool { return lcapparmor.IsEnabled() }

// IsLoaded reports whether a profile of that name is loaded.
func IsLoaded(name string) (bool, error) {
	data, err := os.ReadFile(profilesFile)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		// "<name> (enforce)"
		if n, _, ok := strings.Cut(line, " ("); ok && n == name {
			return true, nil
		}
	}
	return false, nil
}

// Check tells whether a process's AppArmor profile can be applied here:
// none is always fine; a named one needs AppArmor enabled and the profile
// loaded (berth-default is loaded on demand by EnsureDefault). The error
// names the field.
func Check(profile string) error {
	if profile == "" {
		return nil
	}
	if !IsEnabled() {
		return fmt.Errorf("process.apparmorProfile: %q is set but %w; remove it, or run on a host with AppArmor", profile, ErrNotEnabled)
	}
	loaded, err := IsLoaded(profile)
	if err != nil {
		return fmt.Errorf("process.apparmorProfile: %q: %w", profile, err)
	}
	if !loaded && profile != DefaultProfile {
		return fmt.Errorf("process.apparmorProfile: profile %q is not loaded (load it with apparmor_parser)", profile)
	}
	return nil
}

// EnsureDefault loads berth-default with apparmor_parser unless it is
// loaded already.
func EnsureDefault(ctx context.Context) error {
	if !IsEnabled() {
		return ErrNotEnabled
	}
	if loaded, err := IsLoaded(DefaultProfile); err == nil && loaded {
		return nil
	}
	return Load(ctx, Generate(DefaultProfile))
}

// Load loads (or replaces) a profile's text with apparmor_parser -Kr.
func Load(ctx context.Context, profile string) error {
	parser, err := exec.LookPath("apparmor_parser")
	if err != nil {
		return fmt.Errorf("load AppArmor profile: apparmor_parser not found (install Debian's apparmor package): %w", err)
	}
	cmd := exec.CommandContext(ctx, parser, "-Kr")
	cmd.Stdin = strings.NewReader(profile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("load AppArmor profile: apparmor_parser: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
