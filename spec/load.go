package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the name of the spec file inside a bundle.
const ConfigName = "config.json"

// Load reads and validates <bundle>/config.json. The bundle path must be
// absolute: the library never resolves paths against the working directory.
func Load(bundle string) (*specs.Spec, error) {
	s, err := Read(bundle)
	if err != nil {
		return nil, err
	}
	if err := Validate(s, bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(bundle, ConfigName), err)
	}
	return s, nil
}

// Read reads and decodes <bundle>/config.json without validating it, for a
// caller that hands the spec to runtime.Create, which validates it. Use
// only the spec's nil-safe parts before then.
func Read(bundle string) (*specs.Spec, error) {
	if !filepath.IsAbs(bundle) {
		return nil, Invalidf("bundle %q: path must be absolute", bundle)
	}
	st, err := os.Stat(bundle)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Invalidf("bundle %s: directory does not exist", bundle)
		}
		return nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	if !st.IsDir() {
		return nil, Invalidf("bundle %s: not a directory", bundle)
	}
	path := filepath.Join(bundle, ConfigName)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Invalidf("%s: file does not exist", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	s, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Decode parses a spec from JSON. Syntax errors give the line and column,
// type errors the JSON field.
func Decode(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, describeJSONError(data, err)
	}
	return &s, nil
}

func describeJSONError(data []byte, err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		line, col := position(data, syntax.Offset)
		return Invalidf("not valid JSON at line %d, column %d: %v", line, col, syntax)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fieldErr(field, "expected %s, got JSON %s", typ.Type, typ.Value)
	}
	return Invalidf("not a valid spec: %v", err)
}

// position returns the 1-based line and column of the byte a JSON syntax
// error's offset points just past.
func position(data []byte, offset int64) (line, col int) {
	idx := int(min(max(offset-1, 0), int64(len(data))))
	before := data[:idx]
	line = bytes.Count(before, []byte("\n")) + 1
	col = idx - bytes.LastIndexByte(before, '\n')
	return line, col
}

// RootfsPath returns the absolute path of the spec's root filesystem,
// resolving a relative root.path against the bundle.
func RootfsPath(s *specs.Spec, bundle string) string {
	if s.Root == nil {
		return ""
	}
	if filepath.IsAbs(s.Root.Path) {
		return filepath.Clean(s.Root.Path)
	}
	return filepath.Join(bundle, s.Root.Path)
}
