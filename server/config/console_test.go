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

// TestParseZkdSettings: zkd's own scalar keys, their defaults and their
// bad values (an error naming the key).
func TestParseZkdSettings(t *testing.T) {
	pprof := func(c *Config) any { return c.Pprof }
	headroom := func(c *Config) any { return c.GCHeadroomMB }
	for _, tc := range []struct {
		text string
		get  func(*Config) any
		want any // nil: an error naming the key
	}{
		{"", pprof, false},
		{"zkd.pprof.enabled=true\n", pprof, true},
		{"zkd.pprof.enabled=false\n", pprof, false},
		{"zkd.pprof.enabled=maybe\n", pprof, nil},
		{"", headroom, 16},
		{"zkd.gc.headroomMB=64\n", headroom, 64},
		{"zkd.gc.headroomMB=0\n", headroom, 0},
		{"zkd.gc.headroomMB=-1\n", headroom, nil},
		{"zkd.gc.headroomMB=lots\n", headroom, nil},
	} {
		cfg, _, err := Parse(strings.NewReader("dataDir=/tmp/x\n" + tc.text))
		if tc.want == nil {
			key, _, _ := strings.Cut(tc.text, "=")
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%q: err %v, want one naming %s", tc.text, err, key)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
		} else if got := tc.get(cfg); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.text, got, tc.want)
		}
	}
}
