package logdump

import (
	"bytes"
	"strings"
	"testing"
)

func TestGoldenOutputs(t *testing.T) {
	v2, logPath := writeSample(t, t.TempDir())
	logIn, err := Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	dirIn, err := Open(strings.TrimSuffix(v2, "/version-2"))
	if err != nil {
		t.Fatal(err)
	}
	if dirIn.Dir != v2 || len(dirIn.Logs) != 1 || len(dirIn.Snapshots) != 2 {
		t.Fatalf("dataDir resolved to %+v", dirIn)
	}
	tests := []struct {
		name string
		run  func(w *bytes.Buffer) error
	}{
		{"human.golden", func(w *bytes.Buffer) error {
			_, err := Dump(w, logIn, Options{MaxData: 16, Verbose: true})
			return err
		}},
		{"human-hex.golden", func(w *bytes.Buffer) error {
			_, err := Dump(w, logIn, Options{Data: DataHex, MaxData: 4, Filter: Filter{PathPrefix: "/bin"}})
			return err
		}},
		{"json.golden", func(w *bytes.Buffer) error {
			_, err := Dump(w, logIn, Options{JSON: true})
			return err
		}},
		{"stats.golden", func(w *bytes.Buffer) error {
			s, err := ComputeStats(dirIn, Options{}, 1)
			if err != nil {
				return err
			}
			return WriteStats(w, s, false)
		}},
		{"verify.golden", func(w *bytes.Buffer) error {
			_, err := Verify(w, dirIn)
			return err
		}},
		{"snapshot.golden", func(w *bytes.Buffer) error {
			v, _, err := LoadSnapshot(dirIn.Snapshots[0].Path, false)
			if err != nil {
				return err
			}
			return WriteSnapshot(w, v, SnapshotOptions{})
		}},
		{"snapshot-json.golden", func(w *bytes.Buffer) error {
			v, _, err := LoadSnapshot(dirIn.Snapshots[0].Path, true)
			if err != nil {
				return err
			}
			return WriteSnapshot(w, v, SnapshotOptions{JSON: true, Biggest: 3})
		}},
		{"history.golden", func(w *bytes.Buffer) error {
			base, changes, _, err := History(dirIn, "/a", Options{})
			if err != nil {
				return err
			}
			return WriteHistory(w, "/a", base, changes, Options{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.run(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}
