package config

import (
	"strings"
	"testing"
)

// TestConsoleKeys: zkd.console.* keys are kept, prefix removed, for the
// console package to validate; other unknown zkd.* keys still warn.
func TestConsoleKeys(t *testing.T) {
	c, warnings, err := Parse(strings.NewReader("dataDir=/tmp/x\nzkd.console.user.demo=admin:$2a$10$abc\nzkd.console.peer.2 = http://h:8080\nzkd.nope=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Console["user.demo"] != "admin:$2a$10$abc" || c.Console["peer.2"] != "http://h:8080" || len(c.Console) != 2 {
		t.Errorf("Console = %q", c.Console)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "zkd.nope") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestParsePprof(t *testing.T) {
	for _, tc := range []struct {
		text    string
		want    bool
		wantErr bool
	}{
		{"", false, false},
		{"zkd.pprof.enabled=true\n", true, false},
		{"zkd.pprof.enabled=false\n", false, false},
		{"zkd.pprof.enabled=maybe\n", false, true},
	} {
		cfg, _, err := Parse(strings.NewReader("dataDir=/tmp/x\n" + tc.text))
		if (err != nil) != tc.wantErr {
			t.Fatalf("%q: err %v, want error %v", tc.text, err, tc.wantErr)
		}
		if err == nil && cfg.Pprof != tc.want {
			t.Errorf("%q: Pprof = %v, want %v", tc.text, cfg.Pprof, tc.want)
		}
	}
}
