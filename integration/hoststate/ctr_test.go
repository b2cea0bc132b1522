package hoststate

import (
	"slices"
	"testing"
)

func TestCtrArgs(t *testing.T) {
	tests := []struct {
		args, want []string
	}{
		{[]string{"run", "-d", "img", "id"}, []string{"-a", "s", "-n", "ns", "run", "--fifo-dir", "f", "-d", "img", "id"}},
		{[]string{"task", "exec", "--exec-id", "e", "id", "true"}, []string{"-a", "s", "-n", "ns", "task", "exec", "--fifo-dir", "f", "--exec-id", "e", "id", "true"}},
		{[]string{"task", "kill", "id"}, []string{"-a", "s", "-n", "ns", "task", "kill", "id"}},
		{[]string{"containers", "ls"}, []string{"-a", "s", "-n", "ns", "containers", "ls"}},
		{nil, []string{"-a", "s", "-n", "ns"}},
	}
	for _, tc := range tests {
		if got := CtrArgs("s", "ns", "f", tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("CtrArgs(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
