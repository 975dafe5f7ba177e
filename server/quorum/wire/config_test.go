package wire

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// The golden text follows QuorumMaj.toString / QuorumServer.toString:
// HashMap<Long> order (sid 17 shares bucket 1 with sid 1 in a 16-bucket
// table), addresses sorted by host, IPv6 in brackets, client address only
// when set, version in lower-case hex with no trailing newline.
func TestQuorumConfigGolden(t *testing.T) {
	c := QuorumConfig{Version: 0x10000002a, Servers: []QuorumServer{
		{ID: 17, Addrs: []ServerAddr{{"z", 1, 2}}, Type: Observer},
		{ID: 3, Addrs: []ServerAddr{{"h3", 2888, 3888}}, ClientHost: "0.0.0.0", ClientPort: 2181},
		{ID: 1, Addrs: []ServerAddr{{"b", 1, 2}, {"a", 3, 4}}},
		{ID: 2, Addrs: []ServerAddr{{"::1", 5, 6}}, ClientHost: "fe80::1", ClientPort: 2182},
	}}
	got := c.String()
	path := filepath.Join("testdata", "config.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
	parsed, err := ParseQuorumConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.String() != got || parsed.Version != c.Version || len(parsed.Servers) != 4 {
		t.Fatalf("re-rendered:\n%s", parsed.String())
	}
}

func TestJavaHashOrder(t *testing.T) {
	var servers []QuorumServer
	for _, id := range []int64{20, 3, 13, 1, 5, 2, 12, 4, 6, 7, 8, 9, 10} { // 13 servers: 32 buckets
		servers = append(servers, QuorumServer{ID: id})
	}
	var got []int64
	for _, s := range javaHashOrder(servers) {
		got = append(got, s.ID)
	}
	want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 20}
	if len(got) != len(want) {
		t.Fatal(got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	// Negative sids hash by Long.hashCode: -1 has hash 0, bucket 0.
	o := javaHashOrder([]QuorumServer{{ID: 1}, {ID: -1}})
	if o[0].ID != -1 {
		t.Errorf("order of -1 and 1: %d first, want -1", o[0].ID)
	}
}

func TestParseQuorumConfigForms(t *testing.T) {
	text := "# comment\n\n  server.1 = h1:1:2\r\nserver.2:h2:3:4:OBSERVER;5\n!x\nserver.3=h3:5:6;h:7\nsecureClientPort=1\nversion=ff"
	c, err := ParseQuorumConfig(text)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 0xff || len(c.Servers) != 3 {
		t.Fatalf("%+v", c)
	}
	s2 := c.Servers[1]
	if s2.Type != Observer || s2.ClientHost != "0.0.0.0" || s2.ClientPort != 5 || s2.Addrs[0] != (ServerAddr{"h2", 3, 4}) {
		t.Errorf("server.2 = %+v", s2)
	}
	if s3 := c.Servers[2]; s3.ClientHost != "h" || s3.ClientPort != 7 || s3.Type != Participant {
		t.Errorf("server.3 = %+v", s3)
	}
	want := "server.1=h1:1:2:participant\nserver.2=h2:3:4:observer;0.0.0.0:5\nserver.3=h3:5:6:participant;h:7\nversion=ff"
	if got := c.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseQuorumConfigErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"empty", "", "no server"},
		{"only version", "version=1", "no server"},
		{"bad id", "server.x=h:1:2", "bad server id"},
		{"duplicate", "server.1=h:1:2\nserver.1=h:3:4", "twice"},
		{"bad version", "server.1=h:1:2\nversion=xyz", "not hex"},
		{"hierarchical", "server.1=h:1:2\ngroup.1=1", "hierarchical"},
		{"too few parts", "server.1=h:1", "want host:quorumPort"},
		{"too many parts", "server.1=h:1:2:participant:x", "want host:quorumPort"},
		{"bad quorum port", "server.1=h:x:2", "quorum port"},
		{"bad election port", "server.1=h:1:99999", "election port"},
		{"same ports", "server.1=h:1:1", "must differ"},
		{"bad type", "server.1=h:1:2:leader", "unrecognised peer type"},
		{"mixed types", "server.1=h:1:2:observer|g:3:4:participant", "different roles"},
		{"two client parts", "server.1=h:1:2;3;4", "want host:port:port"},
		{"bad client", "server.1=h:1:2;a:b:3", "want [host:]port"},
		{"bad client port", "server.1=h:1:2;a:b", "client address"},
		{"unclosed bracket", "server.1=[::1:1:2", "no matching"},
		{"no value", "server.1=", "want host:quorumPort"},
		{"blank bracketed host", "server.0=[ ]:0:1", "white space"},
		{"tab in host", "server.1=a\tb:1:2", "white space"},
		{"blank client host", "server.1=h:1:2;[ ]:3", "white space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQuorumConfig(tt.text)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tt.want)
			}
		})
	}
}
