package ginkgoreport

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// report is a ginkgo JSON report, cut to what Read reads: a passed test,
// one skipped by the run's focus, one skipped while it ran, a pending one,
// a failed and a timed-out test, a failed setup node, and a suite timeout.
const report = `[{"SpecialSuiteFailureReasons": ["Suite Timeout Elapsed"], "SpecReports": [
 {"ContainerHierarchyTexts": ["[sig-node] Pods"], "LeafNodeText": "run", "LeafNodeType": "It", "State": "passed"},
 {"ContainerHierarchyTexts": ["[sig-node] Pods"], "LeafNodeText": "not focused", "LeafNodeType": "It", "State": "skipped"},
 {"ContainerHierarchyTexts": ["[sig-node] Pods"], "LeafNodeText": "no feature", "LeafNodeType": "It", "State": "skipped",
  "Failure": {"Message": "Only supported for providers [gce]"}},
 {"ContainerHierarchyTexts": null, "LeafNodeText": "pending", "LeafNodeType": "It", "State": "pending"},
 {"ContainerHierarchyTexts": ["[sig-node] Probes"], "LeafNodeText": "fails", "LeafNodeType": "It", "State": "failed"},
 {"ContainerHierarchyTexts": ["[sig-node] Probes"], "LeafNodeText": "times out", "LeafNodeType": "It", "State": "timedout"},
 {"LeafNodeType": "SynchronizedBeforeSuite", "State": "failed"},
 {"LeafNodeType": "SynchronizedAfterSuite", "State": "passed"}
]}]`

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	all := Results{
		"[suite] Suite Timeout Elapsed": Failed,
		"[sig-node] Pods run":           Passed,
		"[sig-node] Pods not focused":   Skipped,
		"[sig-node] Pods no feature":    Skipped,
		"pending":                       Skipped,
		"[sig-node] Probes fails":       Failed,
		"[sig-node] Probes times out":   Failed,
		"[SynchronizedBeforeSuite]":     Failed,
	}
	run := Results{}
	for k, v := range all {
		if k != "[sig-node] Pods not focused" && k != "pending" {
			run[k] = v
		}
	}
	for _, tc := range []struct {
		name string
		read func(string) (Results, error)
		want Results
	}{{"Read", Read, all}, {"ReadRun", ReadRun, run}} {
		got, err := tc.read(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %v\n want %v", tc.name, got, tc.want)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("Read of a missing report: no error")
	}
}

func TestCompare(t *testing.T) {
	base := Results{"a": Passed, "b": Failed, "c": Passed, "d": Skipped}
	other := Results{"a": Passed, "b": Passed, "c": Failed, "e": Passed}
	worse, better := Compare(base, other)
	if want := []string{"c (failed)"}; !reflect.DeepEqual(worse, want) {
		t.Errorf("worse = %v, want %v", worse, want)
	}
	if want := []string{"b (failed)", "e (not run)"}; !reflect.DeepEqual(better, want) {
		t.Errorf("better = %v, want %v", better, want)
	}
	if w, _ := Compare(base, Results{"a": Passed, "c": Passed}); len(w) != 0 {
		t.Errorf("a test missing from other but passing in base's subset: worse = %v", w)
	}
}
