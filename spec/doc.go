// Package spec loads, validates and generates OCI runtime specs (config.json)
// for berth.
//
// Load reads a bundle's config.json and validates it; every error names the
// JSON field at fault and wraps ErrInvalid. Default returns the spec that
// `berth spec` writes, and New builds a spec from functional options for
// library users.
package spec
