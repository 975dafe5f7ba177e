package config

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n got:\n%s\n want:\n%s", name, got, want)
	}
}

func parseFile(t *testing.T, name string) *Config {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, _, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse %s: %v", name, err)
	}
	return c
}

func TestConfStandalone(t *testing.T) {
	c := parseFile(t, "zoo_sample.cfg")
	got := c.ConfText(1234, 5678)
	if !strings.HasSuffix(got, "serverId=0\n") {
		t.Errorf("standalone conf must end with serverId=0 and a newline: %q", got)
	}
	checkGolden(t, "zoo_sample.conf.golden", got)
}

func TestConfEnsemble(t *testing.T) {
	for _, id := range []string{"2", "4"} {
		t.Run("myid="+id, func(t *testing.T) {
			c := parseFile(t, "ensemble.cfg")
			c.MyID, _ = strconv.ParseInt(id, 10, 64)
			if err := (&loader{c: c}).applySelf(); err != nil {
				t.Fatal(err)
			}
			got := c.ConfText(0, 4096)
			if strings.HasSuffix(got, "\n") {
				t.Errorf("ensemble conf ends in a newline, ZooKeeper's does not: %q", got)
			}
			checkGolden(t, "ensemble-myid"+id+".conf.golden", got)
		})
	}
}

func TestMembershipLinesRoundTrip(t *testing.T) {
	// The membership rendering is a valid dynamic config file, so parsing
	// it again must give the same servers and version.
	c := parseFile(t, "ensemble.cfg")
	text := strings.Join(c.MembershipLines(), "\n")
	back, _, err := Parse(strings.NewReader("dataDir=/d\ninitLimit=1\nsyncLimit=1\n" + text))
	if err != nil {
		t.Fatalf("Parse membership: %v", err)
	}
	if got, want := strings.Join(back.MembershipLines(), "\n"), text; got != want {
		t.Errorf("round trip:\n got  %s\n want %s", got, want)
	}
}
