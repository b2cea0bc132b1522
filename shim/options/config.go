package options

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/sirupsen/logrus"
)

// RuntimeOptionsType is the type URL containerd's CRI gives the options of
// a runtime type other than runc's (berth's own, io.containerd.berth.v2).
const RuntimeOptionsType = "runtimeoptions.v1.Options"

// FromConfig reads what containerd's CRI hands a runtime type other than
// runc's: the TOML of the runtime's options table (ConfigBody), or a file
// of the same form named by its ConfigPath. Its keys are runc's option
// names, so a containerd config moves from the runc type to berth's with
// its options as they were:
//
//	[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.berth.options]
//	  SystemdCgroup = true
func FromConfig(ro *runtimeoptions.Options) (Options, error) {
	body := ro.GetConfigBody()
	if path := ro.GetConfigPath(); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Options{}, fmt.Errorf("runtime option ConfigPath: %w", err)
		}
		body = data
	}
	values, err := parseFlatTOML(body)
	if err != nil {
		return Options{}, err
	}
	var opts runcoptions.Options
	for key, v := range values {
		if err := setRuncOption(&opts, key, v); err != nil {
			return Options{}, err
		}
	}
	return FromRunc(&opts), nil
}

// setRuncOption sets one of runc's options by its TOML key. Keys berth
// does not know (TypeUrl, options of other runtimes) are logged and left.
func setRuncOption(o *runcoptions.Options, key string, v any) error {
	str := func(dst *string) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("runtime option %s: want a string, got %v", key, v)
		}
		*dst = s
		return nil
	}
	boolean := func(dst *bool) error {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("runtime option %s: want true or false, got %v", key, v)
		}
		*dst = b
		return nil
	}
	id := func(dst *uint32) error {
		n, ok := v.(int64)
		if !ok || n < 0 || n > 1<<32-1 {
			return fmt.Errorf("runtime option %s: want a uid or gid, got %v", key, v)
		}
		*dst = uint32(n)
		return nil
	}
	switch key {
	case "SystemdCgroup":
		return boolean(&o.SystemdCgroup)
	case "NoPivotRoot":
		return boolean(&o.NoPivotRoot)
	case "NoNewKeyring":
		return boolean(&o.NoNewKeyring)
	case "IoUid":
		return id(&o.IoUid)
	case "IoGid":
		return id(&o.IoGid)
	case "Root":
		return str(&o.Root)
	case "CriuWorkPath":
		return str(&o.CriuWorkPath)
	case "CriuImagePath":
		return str(&o.CriuImagePath)
	case "ShimCgroup":
		return str(&o.ShimCgroup)
	case "BinaryName":
		return str(&o.BinaryName)
	default:
		logrus.WithField("option", key).Warn("berth: runtime option not known to berth's shim; ignored")
		return nil
	}
}

// parseFlatTOML reads the TOML containerd writes for a runtime's options
// table: one "Key = value" a line, the value a boolean, an integer or a
// string ("basic" or 'literal'). Comments and blank lines are skipped; a
// table, an array or a multi-line string is refused, naming its line.
func parseFlatTOML(data []byte) (map[string]any, error) {
	values := map[string]any{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("runtime options, line %d (%q): %s", n+1, line, why)
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "[") {
			return nil, bad("berth's shim takes only key = value lines")
		}
		key = strings.Trim(strings.TrimSpace(key), `"'`)
		v, err := tomlValue(strings.TrimSpace(raw))
		if err != nil {
			return nil, bad(err.Error())
		}
		values[key] = v
	}
	return values, nil
}

// tomlValue reads one value and drops a comment after it.
func tomlValue(raw string) (any, error) {
	switch {
	case strings.HasPrefix(raw, `"""`), strings.HasPrefix(raw, "'''"):
		return nil, fmt.Errorf("multi-line strings are not supported")
	case strings.HasPrefix(raw, "'"):
		end := strings.Index(raw[1:], "'")
		if end < 0 || !onlyComment(raw[end+2:]) {
			return nil, fmt.Errorf("unterminated string")
		}
		return raw[1 : end+1], nil
	case strings.HasPrefix(raw, `"`):
		for i := 1; i < len(raw); i++ {
			switch raw[i] {
			case '\\':
				i++
			case '"':
				if !onlyComment(raw[i+1:]) {
					return nil, fmt.Errorf("text after the string")
				}
				s, err := strconv.Unquote(raw[:i+1])
				if err != nil {
					return nil, fmt.Errorf("bad string: %w", err)
				}
				return s, nil
			}
		}
		return nil, fmt.Errorf("unterminated string")
	}
	word, _, _ := strings.Cut(raw, "#")
	word = strings.TrimSpace(word)
	switch word {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(word, "_", ""), 0, 64)
	if err != nil {
		return nil, fmt.Errorf("want a boolean, an integer or a string")
	}
	return n, nil
}

func onlyComment(rest string) bool {
	rest = strings.TrimSpace(rest)
	return rest == "" || strings.HasPrefix(rest, "#")
}
