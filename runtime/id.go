package runtime

// MaxIDLength is the longest container id accepted, in bytes.
const MaxIDLength = 1024

// ValidateID checks a container id: 1 to 1024 bytes of letters, digits and
// "_+.-", and not "." or "..". The error wraps ErrInvalid.
func ValidateID(id string) error {
	switch {
	case id == "":
		return errorf(ErrInvalid, "container id must not be empty")
	case len(id) > MaxIDLength:
		return errorf(ErrInvalid, "container id is %d bytes long, more than the %d allowed", len(id), MaxIDLength)
	case id == "." || id == "..":
		return errorf(ErrInvalid, "container id %q is not allowed", id)
	}
	for i := range len(id) {
		c := id[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '+' || c == '-' || c == '.' {
			continue
		}
		return errorf(ErrInvalid, "container id %q has %q at byte %d (allowed: letters, digits and _+.-)", id, c, i)
	}
	return nil
}
