// Package ginkgoreport reads the JSON report (--ginkgo.json-report) of a
// ginkgo v2 suite, as critest and Kubernetes' node e2e suite write it, into
// one state per test. The CRI and kubelet lanes compare runtimes with it.
package ginkgoreport

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// The states a test ends in, as Results holds them.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
)

// Results maps a test's full name (its containers' texts and its own,
// joined by spaces) to its state.
type Results map[string]string

// specReport is the part of a ginkgo spec report the lanes read.
type specReport struct {
	ContainerHierarchyTexts []string
	LeafNodeText            string
	LeafNodeType            string
	State                   string
	Failure                 *struct{ Message string }
}

// Read reads the report at path. A pending test counts as skipped; a
// failure in a setup node (BeforeSuite and the like) is kept under that
// node's type ("[SynchronizedBeforeSuite]"), and a suite's own failure (a
// timeout, an interruption) under "[suite] <reason>", so that a suite that
// never ran its tests, or not all of them, still shows a failure.
func Read(path string) (Results, error) {
	return read(path, false)
}

// ReadRun is Read without the tests the run's focus and skip left out
// (skipped with no message): the tests the run selected, and those it
// skipped when they ran (a missing feature, with a message).
func ReadRun(path string) (Results, error) {
	return read(path, true)
}

func read(path string, selectedOnly bool) (Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ginkgo report: %w", err)
	}
	var reports []struct {
		SpecReports                []specReport
		SpecialSuiteFailureReasons []string
	}
	if err := json.Unmarshal(data, &reports); err != nil {
		return nil, fmt.Errorf("ginkgo report %s: %w", path, err)
	}
	out := Results{}
	for _, rep := range reports {
		// A suite that timed out or was interrupted left tests unrun,
		// and the report shows them skipped: the reason is a failure.
		for _, reason := range rep.SpecialSuiteFailureReasons {
			out["[suite] "+reason] = Failed
		}
		for _, s := range rep.SpecReports {
			state := normalState(s.State)
			if s.LeafNodeType != "It" {
				if state == Failed {
					out["["+s.LeafNodeType+"]"] = Failed
				}
				continue
			}
			if selectedOnly && state == Skipped && (s.Failure == nil || s.Failure.Message == "") {
				continue
			}
			out[strings.Join(append(s.ContainerHierarchyTexts, s.LeafNodeText), " ")] = state
		}
	}
	return out, nil
}

// normalState folds ginkgo's states into the three of Results: a panic,
// an interruption, an abort or a timeout is a failure.
func normalState(s string) string {
	switch s {
	case Passed, Skipped:
		return s
	case "pending":
		return Skipped
	default:
		return Failed
	}
}

// Count is the number of tests in state.
func (r Results) Count(state string) int {
	n := 0
	for _, s := range r {
		if s == state {
			n++
		}
	}
	return n
}

// Names are the tests' names, sorted.
func (r Results) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Compare lists, sorted, the tests that pass in base and not in other
// (worse) and those that pass in other and not in base (better), each with
// the state it has where it does not pass ("" when it did not run there).
func Compare(base, other Results) (worse, better []string) {
	for name, state := range base {
		got := other[name]
		switch {
		case state == Passed && got != Passed:
			worse = append(worse, fmt.Sprintf("%s (%s)", name, orNotRun(got)))
		case state != Passed && got == Passed:
			better = append(better, fmt.Sprintf("%s (%s)", name, state))
		}
	}
	for name, got := range other {
		if _, ok := base[name]; !ok && got == Passed {
			better = append(better, fmt.Sprintf("%s (not run)", name))
		}
	}
	sort.Strings(worse)
	sort.Strings(better)
	return worse, better
}

func orNotRun(state string) string {
	if state == "" {
		return "not run"
	}
	return state
}
