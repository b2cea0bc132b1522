package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id    string
		valid bool
	}{
		{"abc", true},
		{"a.b_c-d+e", true},
		{"ABC123", true},
		{strings.Repeat("x", MaxIDLength), true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{"with space", false},
		{"tab\t", false},
		{"nul\x00", false},
		{"ünïcode", false},
		{strings.Repeat("x", MaxIDLength+1), false},
	}
	for _, tc := range tests {
		err := ValidateID(tc.id)
		if tc.valid && err != nil {
			t.Errorf("ValidateID(%.20q): %v", tc.id, err)
		}
		if !tc.valid && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateID(%.20q) = %v, want ErrInvalid", tc.id, err)
		}
	}
}
